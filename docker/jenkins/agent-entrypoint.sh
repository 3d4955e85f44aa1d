#!/bin/sh
# The GPU agent's entrypoint: gives the build user the Docker socket's own group, then starts sshd.
# Builds run in an sshd login session, whose supplementary groups come from /etc/group (initgroups in sshd), not
# from compose's group_add, which applies to the container's first process only. So the group is written into
# /etc/group here, with the GID the mounted socket has on this host: no DOCKER_GID to set by hand.
# The public key comes from a file (compose secret agent_ssh_pubkey) rather than the environment: the base
# image's setup-sshd copies its whole environment into /etc/environment for every SSH session
# (jenkinsci/docker-ssh-agent, setup-sshd: `env | grep _ >> /etc/environment`).
# AGENT_ROOT (default /) lets tests run this on a copy of /etc; AGENT_EXEC replaces setup-sshd there.
set -eu
socket="${DOCKER_SOCKET:-/var/run/docker.sock}"
user="${AGENT_USER:-jenkins}"
root="${AGENT_ROOT:-/}"
pubkey="${AGENT_SSH_PUBKEY_FILE:-/run/secrets/agent_ssh_pubkey}"

if [ -e "$socket" ]; then
    gid=$(stat -c %g "$socket")
    group=$(awk -F: -v gid="$gid" '$3 == gid { print $1; exit }' "$root/etc/group")
    if [ -z "$group" ]; then
        group=docker-host
        groupadd --prefix "$root" --gid "$gid" "$group"
    fi
    usermod --prefix "$root" --append --groups "$group" "$user"
    echo "agent: $user joins group $group (gid $gid, the owner group of $socket)"
else
    echo "agent: no Docker socket at $socket: builds cannot run containers" >&2
fi

if [ -f "$pubkey" ]; then
    JENKINS_AGENT_SSH_PUBKEY=$(cat "$pubkey")
    export JENKINS_AGENT_SSH_PUBKEY
fi
exec "${AGENT_EXEC:-setup-sshd}" "$@"
