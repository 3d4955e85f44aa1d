# A Dask worker for the per-photo work (faceops.core.cluster: faces, dlib features); also the scheduler's image.
# Build from the repository root: docker build -f docker/worker.Dockerfile -t faceops-worker .
# Run on each host: docker run --network host faceops-worker dask worker tcp://SCHEDULER:8786 --nthreads 1
# (scheduler: docker run --network host faceops-worker dask scheduler --port 8786).
# The client refuses workers whose faceops source, dlib, OpenCV, Pillow, NumPy or TensorFlow differ from its
# own, so build this image from the same commit and pyproject.toml as the machine that runs `dvc repro`.
FROM python:3.11-slim-bookworm

WORKDIR /opt/faceops
COPY pyproject.toml README.md ./
COPY faceops ./faceops
# DL3013: versions come from pyproject.toml's ranges, the project's one place for them.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir 'setuptools<81' . \
    && useradd --create-home --uid 10001 faceops
USER 10001
ENV HOME=/home/faceops \
    TF_CPP_MIN_LOG_LEVEL=2
EXPOSE 8786 8787
CMD ["dask", "worker", "tcp://dask-scheduler:8786", "--nthreads", "1"]
