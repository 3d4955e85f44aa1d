# Small CPU image that serves predictions from a trained model (models/model.keras and model.json).
# Build from the repository root after `dvc repro`:
#   docker build -f docker/serve.Dockerfile -t faceops-serve .
#   docker run -p 8000:8000 --env-file faceops.env faceops-serve
# The container binds 0.0.0.0, so it starts only with API keys (faceops serve refuses otherwise):
# faceops.env holds FACEOPS_API_KEYS=predict:KEY1,admin:KEY2 and FACEOPS_ALLOWED_HOSTS=localhost,faces.example.org
# (the names clients use to reach it). Put TLS in front of it with a reverse proxy (docs/serving.md, "Exposing the service").
FROM python:3.11-slim-bookworm

WORKDIR /opt/faceops
COPY pyproject.toml README.md ./
COPY faceops ./faceops
# The `tensorflow` wheel that pyproject.toml asks for runs on the CPU by itself (CUDA comes only with
# tensorflow[and-cuda]), so nothing else is installed beside it.
# DL3013: versions come from pyproject.toml's ranges, the project's one place for them.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir 'setuptools<81' '.[serve]'
COPY models ./models

RUN useradd --create-home --uid 10001 faceops
USER 10001
EXPOSE 8000
CMD ["faceops", "serve", "--host", "0.0.0.0", "--port", "8000", "--model", "models/model.keras"]
