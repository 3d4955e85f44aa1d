# GPU training image: TensorFlow with CUDA plus faceops; runs the DVC pipeline on the mounted checkout.
# Build from the repository root: docker build -f docker/train.Dockerfile -t faceops-train .
# Run: docker run --gpus all -v "$PWD":/work -w /work faceops-train   (faceops doctor --require-gpu && dvc repro)
#
# TensorFlow / CUDA / cuDNN: TensorFlow 2.18.0 is built and tested against CUDA 12.5 and cuDNN 9.3
# (tensorflow.org/install/source, "Tested build configurations", GPU table). `tensorflow[and-cuda]==2.18.0`
# installs exactly those libraries as pip wheels (nvidia-cuda-*-cu12 12.5, nvidia-cudnn-cu12 9.3), so the
# base needs only the host's driver, which the NVIDIA Container Toolkit mounts. Driver floor: 555 (R555, the
# driver CUDA 12.5 shipped with, docs.nvidia.com CUDA Toolkit release notes, table 3). Not 525: CUDA's
# minor-version compatibility lets 12.x libraries run on an older 12.x driver, but not PTX compiled by a newer
# toolchain than the driver's, which XLA's JIT and cuDNN 9 can need (CUDA Compatibility guide, "Minor Version
# Compatibility" limitations). docs/jenkins.md says the same.
# Not tensorflow/tensorflow:2.18.0-gpu: that image ships cuDNN 8.9, TF 2.18 skips the GPU and trains on the
# CPU without failing (tensorflow/tensorflow#62412). `faceops doctor --require-gpu`, the first step of every
# build, fails when no GPU is seen.
# TF_VERSION=2.18.0 CUDA=12.5 CUDNN=9.3
FROM python:3.11-slim-bookworm

# procps: `ps`, with which the Docker Pipeline plugin signals a step's processes on abort (WithContainerStep.java,
# `ps -A -o pid,command e` then `kill`); docker/run-train.sh does not need it, interactive debugging does.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git make procps fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*
# DL3008: git, make, procps (the Docker Pipeline plugin's abort signals) and fonts-noto-cjk (names in any script in
# the plots) follow the base image's Debian release; pinning them would break on its updates.

WORKDIR /opt/faceops
COPY pyproject.toml README.md ./
COPY docker/constraints.txt ./docker/constraints.txt
COPY faceops ./faceops
# setuptools<81: jenkins-job-builder still imports pkg_resources.
# docker/constraints.txt pins the image's stack (TensorFlow 2.18.0, numpy 2.0.2, ...); the Jenkins harness
# (tests/e2e/test_jenkins.py) reads the same file, so the tests know which stack the builds run.
# DL3013: versions come from docker/constraints.txt (-c) within pyproject.toml's ranges.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir -c docker/constraints.txt 'setuptools<81' 'tensorflow[and-cuda]==2.18.0' \
    && pip install --no-cache-dir -c docker/constraints.txt '.[dev]' \
    && git config --system --add safe.directory '*' \
    && mkdir -p /var/cache/faceops/keras \
    && chmod -R 1777 /var/cache/faceops

# PID 1 of every CI step (docker/run-train.sh): passes an abort's SIGTERM to the whole step and waits for it.
COPY docker/step-init.py /usr/local/bin/step-init
# Jenkins runs the container as the agent's uid with HOME=/ (not writable): Keras keeps its weights in
# KERAS_HOME on the faceops-cache volume instead, which a new named volume copies, writable, from here;
# tools that cache under ~/.cache (jenkins-job-builder) or ~/.config (matplotlib) use /tmp.
WORKDIR /work
ENV KERAS_HOME=/var/cache/faceops/keras \
    XDG_CACHE_HOME=/tmp/faceops-home/cache \
    MPLCONFIGDIR=/tmp/faceops-home/matplotlib \
    TF_CPP_MIN_LOG_LEVEL=2 \
    DVC_NO_ANALYTICS=1
CMD ["sh", "-c", "faceops doctor --require-gpu && dvc repro"]
