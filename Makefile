# faceops: `make demo` runs the pipeline on the demo faces, `make test` runs the tests.
VENV ?= .venv
PYTHON ?= python3
DEMO_DATA ?= ../shared/datasets/lfw-people-20
DEMO_PEOPLE ?= 62
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install demo test test-fast clean-outputs

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip 'setuptools<81' wheel
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

# Imports the demo photos, tracks them with DVC and runs the pipeline. Without a network the
# ImageNet weights cannot be fetched: check-weights says so, and the run uses random VGG16
# weights through `dvc exp run -S train.weights=null`, which also writes that into params.yaml.
demo: install
	faceops import-folder $(DEMO_DATA) --min-images 20 --max-people $(DEMO_PEOPLE)
	dvc add --quiet dataset/raw
	@if faceops check-weights; then \
		dvc repro; \
	else \
		echo "*** OFFLINE DEMO: training on RANDOM VGG16 weights (train.weights: null). Accuracy is far below what ImageNet weights give. ***"; \
		dvc exp run -S train.weights=null; \
	fi
	dvc metrics show metrics/eval.json

test: install
	$(VENV)/bin/python -m pytest

test-fast: install
	$(VENV)/bin/python -m pytest -m "not slow"
