# GPU training image: TensorFlow with CUDA plus faceops; runs the DVC pipeline on the mounted checkout.
# Build from the repository root: docker build -f docker/train.Dockerfile -t faceops-train .
# Run: docker run --gpus all -v "$PWD":/work -w /work faceops-train   (dvc repro)
FROM tensorflow/tensorflow:2.18.0-gpu

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git make cmake \
    && rm -rf /var/lib/apt/lists/*
# DL3008: git, make and cmake follow the base image's Ubuntu release; pinning them would break on its updates.

WORKDIR /opt/faceops
COPY pyproject.toml README.md ./
COPY faceops ./faceops
# setuptools<81: jenkins-job-builder still imports pkg_resources.
# DL3013: versions come from pyproject.toml's ranges, the project's one place for them.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir 'setuptools<81' \
    && pip install --no-cache-dir '.[dev]' \
    && git config --system --add safe.directory '*'

WORKDIR /work
ENV TF_CPP_MIN_LOG_LEVEL=2 \
    DVC_NO_ANALYTICS=1
CMD ["dvc", "repro"]
