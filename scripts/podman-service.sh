#!/usr/bin/env bash
# A Docker-API-compatible engine for the docker sandbox backend: rootful podman (runc, cgroupfs)
# serving the Docker API on a private unix socket, with its storage under one private directory.
#
#   eval "$(scripts/podman-service.sh start)"   # install if needed, start (idempotent), export DOCKER_HOST
#   scripts/podman-service.sh env               # print the export line of a running service (exit 1 if none)
#   scripts/podman-service.sh status            # say whether it runs
#   scripts/podman-service.sh stop              # stop it (containers and images stay for next time)
#   scripts/podman-service.sh purge             # stop it and delete its storage
#   scripts/podman-service.sh podman ARGS...    # the podman CLI on the same storage (e.g. `podman ps -a`)
#
# Only stdout carries the export line; progress goes to stderr. Directory: $AUTOLAB_PODMAN_DIR
# (default /var/tmp/autolab-podman). Needs root (rootful podman; apt-get installs podman + runc).
#
# Choices that make it work on a plain Debian 12 VM (cgroup v1 or hybrid, no systemd, and possibly
# no CAP_SYS_RESOURCE inside a VM sandbox):
# - runtime runc: crun 1.8 refuses cgroup "hybrid" mode;
# - cgroupfs manager and a file events log: no systemd/journald;
# - default ulimits below the usual hard limits: podman's own defaults (1048576) make runc's
#   setrlimit fail without CAP_SYS_RESOURCE;
# - netns "none" by default: no CNI/netavark needed (the backend asks for network_mode=none anyway).
set -euo pipefail

DIR=${AUTOLAB_PODMAN_DIR:-/var/tmp/autolab-podman}
SOCK=$DIR/podman.sock
PIDFILE=$DIR/service.pid
export CONTAINERS_CONF=$DIR/containers.conf
export CONTAINERS_STORAGE_CONF=$DIR/storage.conf

# shellcheck source=lib/ensure-commands.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/ensure-commands.sh"
say() { echo "podman-service: $*" >&2; }
die() { say "$*"; exit 1; }

ping_socket() {
  [[ -S $SOCK ]] || return 1
  if command -v curl >/dev/null; then
    curl -sf --max-time 2 --unix-socket "$SOCK" http://d/_ping >/dev/null
  else
    python3 - "$SOCK" <<'EOF' >/dev/null 2>&1
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
sys.exit(0 if s.recv(64).split()[1:2] == [b"200"] else 1)
EOF
  fi
}

service_pid() {
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && grep -qa podman "/proc/$pid/cmdline" || return 1
  echo "$pid"
}

write_config() {
  mkdir -p "$DIR"
  chmod 0700 "$DIR"
  cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
netns = "none"
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$DIR/events.log"
tmp_dir = "$DIR/libpod-tmp"
volume_path = "$DIR/volumes"

[network]
network_config_dir = "$DIR/cni"
EOF
  cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "overlay"
graphroot = "$DIR/storage"
runroot = "$DIR/run"
EOF
}

cmd_start() {
  if service_pid >/dev/null && ping_socket; then
    say "already running on unix://$SOCK"
    echo "export DOCKER_HOST=unix://$SOCK"
    return 0
  fi
  [[ $(id -u) -eq 0 ]] || die "needs root (rootful podman with cgroup limits); run it as root or point DOCKER_HOST at an engine"
  ensure_commands podman runc || die "cannot install podman and runc"
  cmd_stop >/dev/null 2>&1 || true  # a stale pid file or socket from an earlier run
  write_config
  rm -f "$SOCK"
  # setsid + all fds redirected: the service outlives this script, and `$(...)` does not wait for it.
  # Its own working directory: conmon 2.1 drops an "oom" marker file into its cwd (inherited from the
  # service) rather than the container's bundle, so it must not be the caller's (e.g. the repository).
  mkdir -p "$DIR/cwd"
  (cd "$DIR/cwd" && exec setsid podman system service --time=0 "unix://$SOCK" </dev/null >"$DIR/service.log" 2>&1) &
  local pid=$!
  echo "$pid" >"$PIDFILE"
  for _ in $(seq 200); do
    ping_socket && break
    # kill -0, not service_pid: mid-exec, /proc/PID/cmdline can read empty for a moment
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if ! ping_socket; then
    tail -n 20 "$DIR/service.log" >&2 || true
    die "podman did not come up on unix://$SOCK (log: $DIR/service.log)"
  fi
  say "docker API on unix://$SOCK (pid $(cat "$PIDFILE"), storage $DIR)"
  echo "export DOCKER_HOST=unix://$SOCK"
}

cmd_stop() {
  local pid
  if pid=$(service_pid); then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    say "stopped (pid $pid)"
  else
    say "not running"
  fi
  rm -f "$PIDFILE" "$SOCK"
}

cmd_purge() {
  cmd_stop
  if [[ -f $CONTAINERS_STORAGE_CONF ]] && command -v podman >/dev/null; then
    podman system reset -f >/dev/null 2>&1 || true  # unmounts overlays before the directory goes
  fi
  rm -rf "$DIR"
  say "removed $DIR"
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  purge) cmd_purge ;;
  env)
    service_pid >/dev/null && ping_socket || die "not running (start it with: $0 start)"
    echo "export DOCKER_HOST=unix://$SOCK"
    ;;
  status)
    if pid=$(service_pid) && ping_socket; then say "running (pid $pid) on unix://$SOCK"; else say "not running"; exit 1; fi
    ;;
  podman)
    shift
    [[ -f $CONTAINERS_CONF ]] || write_config
    exec podman "$@"
    ;;
  *)
    echo "usage: $0 start|stop|purge|env|status|podman ARGS..." >&2
    exit 2
    ;;
esac
