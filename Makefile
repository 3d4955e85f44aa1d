# faceops: `make demo` runs the pipeline on the demo faces, `make test` runs the tests.
VENV ?= .venv
PYTHON ?= python3
DEMO_DATA ?= ../shared/datasets/lfw-people-20
DEMO_PEOPLE ?= 62
export PATH := $(abspath $(VENV))/bin:$(PATH)

LINT_TOOLS := .ci/node/node_modules/.bin/npm-groovy-lint

.PHONY: install demo serve test test-fast lint-tools

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip 'setuptools<81' wheel
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

# Imports the demo photos, tracks them with DVC and runs the pipeline. Without a network the
# ImageNet weights cannot be fetched: check-weights says so, and the demo trains on the offline
# face backbone instead, through `dvc exp run -S train.backbone=dlib_resnet`, which also writes
# that choice into params.yaml. `dvc repro` itself never switches models.
demo: install
	faceops import-folder $(DEMO_DATA) --min-images 20 --max-people $(DEMO_PEOPLE)
	dvc add --quiet dataset/raw
	@if faceops check-weights; then \
		dvc repro; \
	else \
		echo "*** OFFLINE DEMO: no ImageNet weights for VGG16, so this run uses the offline dlib face backbone (train.backbone: dlib_resnet) ***"; \
		dvc exp run -S train.backbone=dlib_resnet; \
	fi
	dvc metrics show metrics/eval.json

serve: install
	faceops serve --host 127.0.0.1 --port 8000

test: install lint-tools
	$(VENV)/bin/python -m pytest

# npm-groovy-lint lints the Jenkinsfile in the tests (needs Node.js and Java); 15.x runs on Node 20.
lint-tools: $(LINT_TOOLS)
$(LINT_TOOLS):
	npm install --prefix .ci/node --no-audit --no-fund --loglevel=error npm-groovy-lint@15.2.2

test-fast: install
	$(VENV)/bin/python -m pytest -m "not slow"

# ---- CI steps: what Jenkinsfile runs, one target per stage (tests run them for real) ----
BRANCH ?= $(patsubst origin/%,%,$(or $(GIT_BRANCH),main))
CI_AUTHOR := -c user.name=faceops-ci -c user.email=faceops-ci@localhost

.PHONY: ci-setup ci-pull ci-test ci-repro ci-retrain ci-publish ci-report lint

ci-setup:
	@if [ "$$(git rev-parse --is-shallow-repository)" = true ]; then git fetch --unshallow; fi
	@if [ -n "$$DVC_REMOTE_URL" ]; then dvc remote add --local --default --force ci "$$DVC_REMOTE_URL"; fi
	git config user.name >/dev/null || git config user.name faceops-ci
	git config user.email >/dev/null || git config user.email faceops-ci@localhost

ci-pull:
	dvc pull --allow-missing

ci-test:
	python -m pytest -m "not slow and not lint" -q

ci-repro:
	dvc repro $(if $(filter true,$(FORCE)),--force)

ci-retrain:
	faceops retrain $(if $(THRESHOLD),--threshold $(THRESHOLD))

# Commits the pipeline's new state back (as faceops-ci, which the jobs ignore) only when it changed.
ci-publish:
	dvc push
	@if [ -n "$$(git status --porcelain -- dvc.lock params.yaml)" ]; then \
		git add dvc.lock params.yaml metrics plots/*.csv reports/*.csv reports/*.json && \
		git $(CI_AUTHOR) commit -q -m "faceops: model retrained by CI ($$(python -c 'import json; print(json.load(open("metrics/eval.json"))["accuracy"])') accuracy)" && \
		git push origin HEAD:$(BRANCH); \
	else echo "nothing to publish: the model did not change"; fi

ci-report:
	faceops report --email $(if $(REPORT_TO),--to "$(REPORT_TO)")

lint: install lint-tools
	jenkins-jobs test jobs/ -o .faceops/jobs-xml
	hadolint docker/*.Dockerfile docker/jenkins/Dockerfile
	$(LINT_TOOLS) --failon error Jenkinsfile
