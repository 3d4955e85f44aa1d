# The GPU build agent: an SSH agent with a current Docker CLI (builds run docker/train.Dockerfile's image through
# the host's engine, with `docker run`, see docker/run-train.sh) and jenkins-job-builder for the seed job.
# Started by compose.yaml with the GPUs. The JDK 21 SSH agent image, pinned (jenkinsci/docker-ssh-agent,
# docker-bake.hcl: tag "<version>-jdk21"; Debian trixie).
FROM jenkins/ssh-agent:8.9.0-jdk21

# docker-ce-cli from Docker's own repository: Debian's docker.io speaks an older API than current engines
# (29 and later need 1.44) accept.
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
COPY agent-entrypoint.sh /usr/local/bin/agent-entrypoint.sh
ENTRYPOINT ["/usr/local/bin/agent-entrypoint.sh"]
