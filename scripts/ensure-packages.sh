#!/usr/bin/env bash
# Install the Debian packages a make target needs, only where their command is
# missing: ensure-packages.sh COMMAND:PACKAGE [COMMAND:PACKAGE ...].
# Used by the Makefile so a fresh machine and CI get the same tools.
set -euo pipefail

missing=()
for pair in "$@"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
  echo "ensure-packages: installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
