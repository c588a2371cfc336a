#!/usr/bin/env bash
# `make demo SCORER=container`: the demo episode with the trusted scorer in its container.
#
#   scripts/demo-container.sh [TASK]     # default sorting_network
#
# Builds localhost/autolab-scorer:latest (the first time from nothing, with progress on stderr; then
# from cache, keeping the tasks it has and adding TASK),
# starts the container (scripts/scorer-container.sh), and runs clients/demo.py against it: the server
# gets only the task's public bundle and runs in a mount namespace where the repository's hidden
# tests/ and solution/ are empty; the demo prints where the hidden files live (inside the container)
# and what the server could see of them (nothing). The container keeps running afterwards
# (scripts/scorer-container.sh stop). Needs root (rootful podman).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TASK=${1:-sorting_network}
IMAGE=localhost/autolab-scorer:latest
PY=${PY:-$ROOT/.venv/bin/python}
say() { echo "demo-container: $*" >&2; }
podman() { bash "$ROOT/scripts/podman-service.sh" podman "$@"; }

[[ $(id -u) -eq 0 ]] || { say "needs root (rootful podman: the sandboxes inside need real cgroups)"; exit 1; }
[[ -f $ROOT/tasks/$TASK/task.toml ]] || { say "no task '$TASK' in $ROOT/tasks"; exit 1; }

have=""
if command -v podman >/dev/null && podman image exists "$IMAGE" 2>/dev/null; then
  have=$(podman image inspect --format '{{ index .Config.Labels "org.autolab.tasks" }}' "$IMAGE")
fi
# Built every time: seconds when nothing changed (cached layers), and the scorer then runs this
# checkout's code, not an image's from weeks ago.
if [[ -z $have ]]; then say "no scorer image yet: building $IMAGE with $TASK (a minute or two, once)"; fi
if [[ -z $have ]]; then tasks=$TASK
elif [[ $have == all || " $have " == *" $TASK "* ]]; then tasks=$have
else tasks="$have $TASK"; fi
TASKS=$tasks bash "$ROOT/scripts/build-scorer-image.sh"
eval "$(bash "$ROOT/scripts/scorer-container.sh" start)"
name=${AUTOLAB_SCORER_NAME:-autolab-scorer}
hidden=$(podman exec "$name" sh -c "find /opt/autolab/tasks/$TASK/tests /opt/autolab/tasks/$TASK/solution \
  -type f -not -path '*/__pycache__/*' | wc -l")
export AUTOLAB_SCORER_HIDDEN_AT="inside the container '$name': /opt/autolab/tasks/$TASK/{tests,solution}, $hidden files"
cd "$ROOT"
exec "$PY" -m clients.demo --task "$TASK" --hide-from-server "$ROOT/tasks"
