#!/usr/bin/env bash
# System packages the sandboxes need: bubblewrap (the sandbox), util-linux (setpriv,
# prlimit, taskset), python3-venv (task runtimes on a world-readable interpreter), gcc.
# Installs only what is missing, so it is cheap to run again.
set -euo pipefail
missing=()
command -v bwrap >/dev/null || missing+=(bubblewrap)
command -v setpriv >/dev/null && command -v prlimit >/dev/null || missing+=(util-linux)
dpkg -s python3-venv >/dev/null 2>&1 || missing+=(python3-venv)
command -v gcc >/dev/null || missing+=(gcc)
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing system packages: ${missing[*]}; install them (e.g. sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "installing system packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
