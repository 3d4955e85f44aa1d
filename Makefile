# faceops: `make demo` runs the pipeline on the demo faces, `make test` runs the tests.
VENV ?= .venv
PYTHON ?= python3
DEMO_DATA ?= ../shared/datasets/lfw-people-20
DEMO_PEOPLE ?= 62
export PATH := $(abspath $(VENV))/bin:$(PATH)

LINT_TOOLS := .ci/node/node_modules/.bin/npm-groovy-lint

.PHONY: install demo serve test test-unit test-integration test-e2e test-fast lint-tools browser fonts

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
demo: install fonts
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

test: install lint-tools browser fonts
	$(VENV)/bin/python -m pytest

# The web page test drives Debian's chromium (Playwright downloads no browser here). As root with apt it is
# installed; otherwise make stops at once and says how.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's chromium for the web page test"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
		else \
			echo "error: the web page test needs chromium: run 'sudo apt-get install chromium', then make test" >&2; exit 1; \
		fi; }

# Plots name people in any script: matplotlib falls back to Debian's Noto CJK fonts for Chinese, Japanese and
# Korean names (faceops/core/fonts.py). As root with apt they are installed; otherwise make says how.
fonts:
	@fc-list 2>/dev/null | grep -q "Noto Sans CJK" || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's fonts-noto-cjk for names in Chinese, Japanese and Korean"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-noto-cjk >/dev/null; \
		else \
			echo "error: plots need a CJK font: run 'sudo apt-get install fonts-noto-cjk', then make again" >&2; exit 1; \
		fi; }

# npm-groovy-lint lints the Jenkinsfile in the tests (needs Node.js and Java); 15.x runs on Node 20.
lint-tools: $(LINT_TOOLS)
$(LINT_TOOLS):
	npm install --prefix .ci/node --no-audit --no-fund --loglevel=error npm-groovy-lint@15.2.2

# Test tiers (make test runs all three): unit needs nothing but the code (no LFW, no DVC repository, no
# TensorFlow model); integration adds LFW photos, DVC, an S3 server and tools; e2e runs the pipeline end to end.
test-unit: install
	$(VENV)/bin/python -m pytest tests/unit

test-integration: install lint-tools fonts
	$(VENV)/bin/python -m pytest tests/integration

test-e2e: install browser fonts
	$(VENV)/bin/python -m pytest tests/e2e

test-fast: install lint-tools fonts
	$(VENV)/bin/python -m pytest tests/unit tests/integration

# ---- CI steps: what Jenkinsfile runs, one target per stage (tests run them for real) ----
# Values from Jenkins (REPORT_TO, RETRAIN_THRESHOLD, BUILD_RESULT, DVC_REMOTE_URL, ...) are read by the shell
# from the environment ("$$NAME"), never pasted into a command line by make, so no value can inject a command.
BRANCH ?= $(patsubst origin/%,%,$(or $(GIT_BRANCH),main))
CI_AUTHOR := -c user.name=faceops-ci -c user.email=faceops-ci@localhost
# The stage that runs a step (Jenkins sets STAGE_NAME), kept for the report of a failed build.
MARK_STAGE = @mkdir -p .faceops && printf '%s\n' "$${STAGE_NAME:-$@}" > .faceops/ci-stage

# Where the service keeps its recognition log and feedback (`faceops serve --records`): the DVC remote's bucket,
# under faceops-records/, when CI has a remote; the workspace otherwise (which holds none).
CI_RECORDS = $$( [ -n "$$DVC_REMOTE_URL" ] && echo remote://ci/faceops-records || echo . )

.PHONY: ci-setup ci-doctor ci-pull ci-monitor ci-test ci-repro ci-retrain ci-publish ci-report lint

ci-setup:
	$(MARK_STAGE)
	@if [ "$$(git rev-parse --is-shallow-repository)" = true ]; then git fetch --unshallow; fi
	git rev-parse HEAD > .faceops/ci-base
	@if [ -n "$$DVC_REMOTE_URL" ]; then \
		dvc remote add --local --default --force ci "$$DVC_REMOTE_URL" && echo "DVC remote 'ci' set from DVC_REMOTE_URL"; \
		if [ -n "$$DVC_REMOTE_ENDPOINT_URL" ]; then dvc remote modify --local ci endpointurl "$$DVC_REMOTE_ENDPOINT_URL"; fi; \
	fi
	git config user.name >/dev/null || git config user.name faceops-ci
	git config user.email >/dev/null || git config user.email faceops-ci@localhost

# Fails the build at its start when the machine cannot do the job (no GPU, remote, recipients or SMTP server).
ci-doctor:
	$(MARK_STAGE)
	faceops doctor --require-mail --require-remote $(if $(filter false,$(REQUIRE_GPU)),,--require-gpu) --to "$$REPORT_TO"

# Data moves within FACEOPS_TRANSFER_SECONDS (default 900), as faceops' own pulls and pushes: a remote that accepts
# and never answers fails the step with timeout's 124, not the whole stage's time.
TRANSFER = timeout "$${FACEOPS_TRANSFER_SECONDS:-900}"

ci-pull:
	$(MARK_STAGE)
	$(TRANSFER) dvc pull --allow-missing

# Steps whose exit status means something (retrain: 2 below threshold, 4 interrupted; monitor: 3 drifted) keep
# it in .faceops/ci-exit, which the Jenkinsfile exits with: make itself exits 2 for any failing recipe.
KEEP_EXIT = echo $$? > .faceops/ci-exit

# The live model as pulled, against what the service saw this week; exit 3 (someone drifted) marks the build
# unstable (Jenkinsfile). Runs in the nightly job.
ci-monitor:
	$(MARK_STAGE)
	@rm -f .faceops/ci-exit
	@if [ ! -f models/model.json ]; then echo "no live model yet: nothing to monitor"; echo 0 > .faceops/ci-exit; \
	else faceops monitor --records "$(CI_RECORDS)" --since "$${DRIFT_SINCE:-7d}"; $(KEEP_EXIT); fi

ci-test:  # the unit tier: a sanity check of the image before an hour of training (the project's CI runs make test)
	$(MARK_STAGE)
	python -m pytest tests/unit -m "not lint" -q -p no:cacheprovider

ci-repro:
	$(MARK_STAGE)
	faceops repro $(if $(filter true,$(FORCE_REPRO)),--force)

ci-retrain:
	$(MARK_STAGE)
	@rm -f .faceops/ci-exit
	faceops retrain --threshold "$$RETRAIN_THRESHOLD"; $(KEEP_EXIT)

# Commits the pipeline's new state back (as faceops-ci, which the jobs ignore) only when it changed. When the
# branch moved during the build, it rebases on it and tries again; if that conflicts, it pushes a branch instead.
# The published model becomes a GTO version in stage live (git tags, pushed too); a failure here only warns.
REGISTER = GIT_COMMITTER_NAME=faceops-ci GIT_COMMITTER_EMAIL=faceops-ci@localhost faceops models --register && \
	git push -q origin --tags || echo "warning: the model version was not registered: run faceops models --register"
ci-publish:
	$(MARK_STAGE)
	$(TRANSFER) dvc push
	@if [ -z "$$(git status --porcelain -- dvc.lock params.yaml)" ]; then \
		echo "nothing to publish: the model did not change"; exit 0; fi; \
	git add dvc.lock params.yaml metrics plots/*.csv reports/*.csv reports/*.json && \
	git $(CI_AUTHOR) commit -q -m "faceops: model retrained by CI ($$(python -c 'import json; print(json.load(open("metrics/eval.json"))["accuracy"])') accuracy)" && \
	for attempt in 1 2 3; do \
		if git push -q origin HEAD:$(BRANCH); then echo "published to $(BRANCH)"; $(REGISTER); exit 0; fi; \
		echo "push rejected ($$attempt/3): $(BRANCH) moved during the build; rebasing on it"; \
		git fetch -q origin $(BRANCH) && git rebase -q FETCH_HEAD || { \
			git rebase --abort 2>/dev/null; branch="faceops-ci/build-$${BUILD_NUMBER:-manual}"; \
			git push -q origin "HEAD:refs/heads/$$branch" && \
			echo "error: the new model conflicts with $(BRANCH); published to branch $$branch instead, merge it by hand"; \
			exit 1; }; \
	done; exit 1

ci-report:
	faceops report --email --to "$$REPORT_TO" --threshold "$$RETRAIN_THRESHOLD" --result "$$BUILD_RESULT" \
		--stage "$$(cat .faceops/ci-stage 2>/dev/null)" --base "$$(cat .faceops/ci-base 2>/dev/null)" \
		--records "$(CI_RECORDS)" --drift-since "$${DRIFT_SINCE:-7d}"

lint: install lint-tools
	ruff check .
	ruff format --check .
	jenkins-jobs test jobs/ -o .faceops/jobs-xml
	hadolint docker/*.Dockerfile docker/jenkins/Dockerfile docker/jenkins/agent.Dockerfile
	$(LINT_TOOLS) --failon error Jenkinsfile
