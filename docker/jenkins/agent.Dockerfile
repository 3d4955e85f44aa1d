# The GPU build agent: an SSH agent with a current Docker CLI (builds run in docker/train.Dockerfile through
# the host's engine) and jenkins-job-builder for the seed job. Started by compose.yaml with the GPUs.
FROM jenkins/ssh-agent:jdk17

# docker-ce-cli from Docker's own repository: Debian's docker.io 20.10 speaks API 1.41, which current
# engines (29 and later need 1.44) refuse.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl git make python3-venv \
    && install -m 0755 -d /etc/apt/keyrings \
    && curl -fsSL https://download.docker.com/linux/debian/gpg -o /etc/apt/keyrings/docker.asc \
    && chmod a+r /etc/apt/keyrings/docker.asc \
    && . /etc/os-release \
    && echo "deb [signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/debian $VERSION_CODENAME stable" \
        > /etc/apt/sources.list.d/docker.list \
    && apt-get update \
    && apt-get install -y --no-install-recommends docker-ce-cli \
    && rm -rf /var/lib/apt/lists/*
# DL3008: these follow the base image's Debian release and Docker's stable channel.
RUN python3 -m venv /opt/jjb \
    && /opt/jjb/bin/pip install --no-cache-dir 'setuptools<81' 'jenkins-job-builder==6.5.0' \
    && ln -s /opt/jjb/bin/jenkins-jobs /usr/local/bin/jenkins-jobs
