# Sourced by the scripts that need system tools: `ensure_commands CMD[:PACKAGE]...` installs, with
# apt-get, the Debian package of every command that is not on PATH (PACKAGE defaults to CMD), and
# says plainly what is missing where it cannot (not root, no apt-get). Progress goes to stderr.
ensure_commands() {
  local spec cmd pkg missing=()
  for spec in "$@"; do
    cmd=${spec%%:*}
    pkg=${spec#*:}
    command -v "$cmd" >/dev/null || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "missing ${missing[*]}: install them (apt-get install ${missing[*]}) and run this again" >&2
    return 1
  fi
  echo "installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
