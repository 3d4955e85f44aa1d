#!/bin/sh
# Runs one CI step in the training image (train.Dockerfile) through the host's Docker engine, with every
# `docker run` argument spelled out here. Called by the Jenkinsfile on the GPU agent:
#   docker/run-train.sh --build          builds the image (tag $FACEOPS_TRAIN_IMAGE, default faceops-train:ci)
#   docker/run-train.sh make ci-test     runs `sh -xe -c 'make ci-test'` in it, in this workspace
# Not `docker.image().inside` / `agent { dockerfile }`: when the agent is itself a container, the Docker Pipeline
# plugin adds `--volumes-from <agent container>` (DockerClient.java, run(); WithContainerStep.java,
# getContainerIdIfContainerized), and the agent's volumes include the Docker socket: training code would be
# root on the host. Here the build container gets the agent's work volume by name and nothing else of it.
# Variables reach the container by name only (`--env NAME`: docker copies the value from this environment, so
# no secret is on a command line), and only those listed in PASS, when they are set.
set -eu

image="${FACEOPS_TRAIN_IMAGE:-faceops-train:ci}"
work_volume="${FACEOPS_AGENT_VOLUME:-faceops-agent-work}"   # compose.yaml's agent_work volume
work_root="${FACEOPS_AGENT_ROOT:-/home/jenkins/agent}"       # where the agent mounts it
docker="${DOCKER:-docker}"

# The build parameters (jobs/faceops.yaml), the Jenkinsfile's environment {} and withCredentials variables,
# and the Jenkins build variables the make targets read.
PASS="REPORT_TO RETRAIN_THRESHOLD FORCE_REPRO REQUIRE_GPU DVC_REMOTE_ENDPOINT_URL
DVC_REMOTE_URL FACEOPS_LFW DRIFT_SINCE
AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY FACEOPS_SMTP_USER FACEOPS_SMTP_PASSWORD
GIT_ASKPASS GIT_USERNAME GIT_PASSWORD GIT_TERMINAL_PROMPT
BUILD_NUMBER BUILD_TAG BUILD_URL JOB_NAME GIT_BRANCH STAGE_NAME BUILD_RESULT WORKSPACE"

if [ "${1:-}" = --build ]; then
    set -x
    exec "$docker" build --pull --tag "$image" --file docker/train.Dockerfile .
fi
if [ $# -eq 0 ]; then
    echo "usage: docker/run-train.sh --build | COMMAND..." >&2
    exit 2
fi
case "$PWD/" in
    "$work_root"/*) ;;
    *) echo "error: the workspace $PWD is not under $work_root (the agent's work volume $work_volume)" >&2; exit 2 ;;
esac
command="$*"

# One name per build: a step that an abort left finishing its cleanup (step-init waits for it) is waited for
# before the next one, e.g. the report in `post`, starts on the same workspace.
name="faceops-step-$(printf %s "${BUILD_TAG:-manual}" | tr -c 'A-Za-z0-9_.-' '-')"
while "$docker" container inspect "$name" >/dev/null 2>&1; do
    echo "waiting for $name, still ending, to be gone" >&2
    "$docker" wait "$name" >/dev/null 2>&1 || sleep 1
done

# PID 1 is docker/step-init.py (in the image as /usr/local/bin/step-init): it passes the SIGTERM that
# `docker run` proxies on an abort to the whole step and waits for all of it, so faceops retrain can put
# params.yaml back before the container ends.
set -- run --rm --name "$name"
if [ "${REQUIRE_GPU:-true}" != false ]; then
    set -- "$@" --gpus all
fi
set -- "$@" --user "$(id -u):$(id -g)" \
    --mount "type=volume,src=$work_volume,dst=$work_root" \
    --workdir "$PWD" \
    --mount type=volume,src=faceops-cache,dst=/var/cache/faceops \
    --mount type=volume,src=faceops-lfw,dst=/data/lfw-people-20,readonly
for var in $PASS; do
    if eval "[ -n \"\${$var+set}\" ]"; then
        set -- "$@" --env "$var"
    fi
done
set -- "$@" "$image" step-init sh -xe -c "$command"
echo "+ $docker $*" >&2
exec "$docker" "$@"
