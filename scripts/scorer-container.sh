#!/usr/bin/env bash
# Run the trusted scorer in its container (localhost/autolab-scorer:latest, built by
# scripts/build-scorer-image.sh) with the podman CLI, reachable from the host over a unix socket.
#
#   eval "$(scripts/scorer-container.sh start)"   # start (idempotent); exports what a host server needs
#   scripts/scorer-container.sh status            # container state and the scorer's /v1/health
#   scripts/scorer-container.sh stop              # stop and remove the container (key volume stays)
#   scripts/scorer-container.sh logs | exec CMD...  # its log; a command inside it
#
# Only stdout carries the export line (AUTOLAB_SCORER_URL, AUTOLAB_SCORER_TOKEN_FILE,
# AUTOLAB_SCORER_PUBLIC_KEY); progress goes to stderr. Needs root (rootful podman; it runs on the
# storage and config of scripts/podman-service.sh, which need not be running).
#
# Host side, in $AUTOLAB_SCORER_DIR (default /run/autolab-scorer, 0700, bind-mounted at
# /run/autolab-scorer inside): scorer.sock; tokens (the scorer's `NAME TOKEN` list, 0600, made on the
# first start with one random client `host`, kept across restarts so running servers keep working;
# ROTATE_TOKENS=1 makes new ones); host.token (that client's token alone, 0600: what
# AUTOLAB_SCORER_TOKEN_FILE names); scorer.pub (the Ed25519 public key, for verifiers to pin).
# The private signing key never leaves the container: it lives in the podman volume
# autolab-scorer-state at /var/lib/autolab-mcp (so records stay verifiable across restarts), which
# nothing on the host mounts.
#
# Timing core: the host's lease directory (/run/autolab-mcp/locks, or $AUTOLAB_LOCK_DIR) is
# bind-mounted at /run/autolab-mcp/locks, and the container keeps every host CPU (no --cpuset-cpus):
# both sides then pick the same timing core (the last usable one, autolab_mcp/core/cores.py) and
# flock the same file, so host experiments and the container's evaluations never share it. `start`
# checks that the two sides agree on the core.
#
# Privileges (AUTOLAB_SCORER_PRIVILEGE, default caps), measured 2026-12-03 on Debian 12, cgroup v1,
# podman 4.3.1 + runc, with `python -m scorer.selfcheck` (one sandbox run the way a timed evaluation
# runs: root bwrap, setpriv to a sandbox uid, seccomp filter, memory/pids/cpu/cpuset cgroups):
#   --cap-add SYS_ADMIN,NET_ADMIN          bwrap: "Can't mount proc on /newroot/proc: Operation not
#                                          permitted" (podman's masked /proc paths forbid a new proc)
#   ... + --security-opt unmask=ALL        ok: limits_mode cgroup, pinned to the timing core alone
#                                          (podman's default seccomp profile is no obstacle)
#   --privileged                           ok as well, but with every device and capability, no seccomp
#                                          and a writable /sys: root in the container is root on the host
# SYS_ADMIN makes the namespaces and lets the entrypoint remount the container's read-only cgroup
# controllers read-write; NET_ADMIN brings up the sandbox's loopback ("loopback: Failed RTM_NEWADDR"
# without it). So caps = those two + unmask=ALL; privileged is the fallback for hosts where that is
# refused. Sibling containers (the docker backend through the host's Docker API) were not chosen:
# handing the scorer the engine's socket is root on the host too, and each evaluation would pay a
# container start. Either way the sandboxes' cgroups nest under the container's own, so a container
# --memory/--pids-limit bounds them all.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE=${AUTOLAB_SCORER_IMAGE:-localhost/autolab-scorer:latest}
NAME=${AUTOLAB_SCORER_NAME:-autolab-scorer}
HOST_DIR=${AUTOLAB_SCORER_DIR:-/run/autolab-scorer}
HOST_LOCK_DIR=${AUTOLAB_LOCK_DIR:-/run/autolab-mcp/locks}
STATE_VOLUME=${AUTOLAB_SCORER_VOLUME:-autolab-scorer-state}
PRIVILEGE=${AUTOLAB_SCORER_PRIVILEGE:-caps}
START_TIMEOUT=${AUTOLAB_SCORER_START_TIMEOUT:-180}
# extra `podman run` options, e.g. "--memory 8g --pids-limit 8192"
EXTRA_RUN_ARGS=${AUTOLAB_SCORER_RUN_ARGS:-}

IN_DIR=/run/autolab-scorer  # the host directory's path inside the container
CLIENT=host

# The scorer's command line inside the container, run by /bin/sh after the image's entrypoint
# (AUTOLAB_SCORER_CMD overrides it).
SCORER_CMD=${AUTOLAB_SCORER_CMD:-"python -m scorer --tasks-dir /opt/autolab/tasks --listen unix:$IN_DIR/scorer.sock \
--tokens-file $IN_DIR/tokens --backend bwrap --public-key-out $IN_DIR/scorer.pub"}

say() { echo "scorer-container: $*" >&2; }
die() { say "error: $*"; exit 1; }
podman() { bash "$ROOT/scripts/podman-service.sh" podman "$@"; }

privilege_args() {
  case $PRIVILEGE in
    caps) echo "--cap-add=SYS_ADMIN --cap-add=NET_ADMIN --security-opt=unmask=ALL" ;;
    privileged) echo "--privileged" ;;
    *) die "AUTOLAB_SCORER_PRIVILEGE must be caps or privileged, not '$PRIVILEGE'" ;;
  esac
}

running() { [[ $(podman container inspect --format '{{.State.Running}}' "$NAME" 2>/dev/null) == true ]]; }

# GET /v1/health over the socket; prints the JSON, fails unless HTTP 200
health() {
  python3 - "$HOST_DIR/scorer.sock" "$HOST_DIR/$CLIENT.token" <<'EOF'
import socket, sys
sock, token_file = sys.argv[1:]
token = open(token_file).read().strip()
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sock)
s.sendall(f"GET /v1/health HTTP/1.0\r\nHost: scorer\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
data = b""
while chunk := s.recv(65536):
    data += chunk
head, _, body = data.partition(b"\r\n\r\n")
print(body.decode())
sys.exit(0 if head.split()[1:2] == [b"200"] else 1)
EOF
}

export_line() {
  local line="export AUTOLAB_SCORER_URL=unix:$HOST_DIR/scorer.sock AUTOLAB_SCORER_TOKEN_FILE=$HOST_DIR/$CLIENT.token"
  [[ -s $HOST_DIR/scorer.pub ]] && line+=" AUTOLAB_SCORER_PUBLIC_KEY=$HOST_DIR/scorer.pub"
  echo "$line"
}

make_tokens() {
  if [[ -s $HOST_DIR/tokens && -s $HOST_DIR/$CLIENT.token && ${ROTATE_TOKENS:-0} != 1 ]]; then
    say "keeping the tokens in $HOST_DIR/tokens (ROTATE_TOKENS=1 makes new ones)"
    return
  fi
  local token
  token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  (
    umask 077
    printf '%s %s\n' "$CLIENT" "$token" >"$HOST_DIR/tokens.new"
    printf '%s\n' "$token" >"$HOST_DIR/$CLIENT.token.new"
  )
  mv -f "$HOST_DIR/tokens.new" "$HOST_DIR/tokens"
  mv -f "$HOST_DIR/$CLIENT.token.new" "$HOST_DIR/$CLIENT.token"
  say "new client token for '$CLIENT' in $HOST_DIR/$CLIENT.token"
}

cmd_start() {
  [[ $(id -u) -eq 0 ]] || die "needs root (rootful podman: the sandboxes inside need real cgroups)"
  command -v podman >/dev/null || die "no podman (apt-get install podman runc, or scripts/podman-service.sh start)"
  podman image exists "$IMAGE" || die "no image $IMAGE: build it with scripts/build-scorer-image.sh (make scorer-image)"
  mkdir -p "$HOST_DIR" "$HOST_LOCK_DIR"
  chmod 0700 "$HOST_DIR" "$HOST_LOCK_DIR"
  if running && [[ $(podman container inspect --format '{{.Image}}' "$NAME") != \
      "$(podman image inspect --format '{{.Id}}' "$IMAGE")" ]]; then
    say "$NAME runs an older build of $IMAGE: restarting it"
    cmd_stop
  fi
  if running; then
    say "$NAME is already running"
    health >/dev/null || die "$NAME runs but does not answer on $HOST_DIR/scorer.sock (see: $0 logs)"
    export_line
    return
  fi
  podman rm -f "$NAME" >/dev/null 2>&1 || true
  rm -f "$HOST_DIR/scorer.sock"
  make_tokens
  say "command: $SCORER_CMD"
  local t0 priv
  t0=$(date +%s)
  priv=$(privilege_args)
  # shellcheck disable=SC2086  # $priv and $EXTRA_RUN_ARGS are lists of options
  podman run --detach --name "$NAME" --network=none $priv $EXTRA_RUN_ARGS \
    --volume "$HOST_DIR:$IN_DIR" \
    --volume "$HOST_LOCK_DIR:/run/autolab-mcp/locks" \
    --volume "$STATE_VOLUME:/var/lib/autolab-mcp" \
    "$IMAGE" /bin/sh -c "exec $SCORER_CMD" >/dev/null
  say "started $NAME ($IMAGE, privilege: $PRIVILEGE); waiting for $HOST_DIR/scorer.sock"
  local deadline=$((t0 + START_TIMEOUT))
  until [[ -S $HOST_DIR/scorer.sock ]] && health >/dev/null 2>&1; do
    if ! running; then
      podman logs --tail 30 "$NAME" >&2 || true
      die "$NAME exited before answering (log above)"
    fi
    if (($(date +%s) > deadline)); then
      podman logs --tail 30 "$NAME" >&2 || true
      die "$NAME did not answer within ${START_TIMEOUT}s"
    fi
    sleep 0.2
  done
  check_timing_core
  say "$NAME answers on $HOST_DIR/scorer.sock ($(($(date +%s) - t0))s)"
  export_line
}

# Both sides must agree on the timing core, or their leases name different lock files.
check_timing_core() {
  local host inside
  host=$(python3 -c 'import os; print(max(os.sched_getaffinity(0)))')
  inside=$(podman exec "$NAME" python -c 'from autolab_mcp.core.cores import timing_core; print(timing_core())')
  if [[ $host != "$inside" ]]; then
    cmd_stop
    die "the container's timing core ($inside) is not the host's ($host): run it on every host CPU"
  fi
  say "timing core $host, leases shared through $HOST_LOCK_DIR"
}

cmd_stop() {
  if podman container exists "$NAME" 2>/dev/null; then
    podman stop --time 15 "$NAME" >/dev/null 2>&1 || true
    podman rm -f "$NAME" >/dev/null 2>&1 || true
    say "stopped $NAME"
  else
    say "$NAME is not running"
  fi
  rm -f "$HOST_DIR/scorer.sock"
}

cmd_status() {
  if ! running; then
    say "$NAME is not running"
    return 1
  fi
  say "$NAME is running ($(podman container inspect --format '{{.ImageName}}, up since {{.State.StartedAt}}' "$NAME"))"
  health
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) running && export_line || die "$NAME is not running" ;;
  logs) podman logs "$NAME" ;;
  exec)
    shift
    podman exec "$NAME" "$@"
    ;;
  *)
    echo "usage: $0 start|stop|status|env|logs|exec CMD..." >&2
    exit 2
    ;;
esac
