#!/usr/bin/env bash
# Make a Docker engine answer on this machine, the way CI machines need it:
# install Debian's docker.io and debootstrap when missing, start dockerd when it
# is not answering (no bridge, no iptables: test containers run with no network),
# and wait until it answers. Idempotent: does nothing when the engine is up.
set -euo pipefail

log_file="${HARDEN_TCP_DOCKERD_LOG:-/var/log/harden-tcp-dockerd.log}"
wait_seconds="${HARDEN_TCP_DOCKERD_WAIT:-60}"

"$(dirname "$0")/ensure-packages.sh" dockerd:docker.io debootstrap:debootstrap

if docker info >/dev/null 2>&1; then
  echo "ensure-docker: engine already answering"
  exit 0
fi

echo "ensure-docker: starting dockerd (log: $log_file)"
mkdir -p "$(dirname "$log_file")"
nohup dockerd --bridge=none --iptables=false --ip6tables=false >>"$log_file" 2>&1 &
for ((i = 0; i < wait_seconds; i++)); do
  if docker info >/dev/null 2>&1; then
    echo "ensure-docker: engine answering after ${i}s"
    exit 0
  fi
  sleep 1
done
echo "ensure-docker: dockerd did not answer within ${wait_seconds}s; last lines of $log_file:" >&2
tail -n 20 "$log_file" >&2
exit 1
