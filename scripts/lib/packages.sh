# Sourced by the setup scripts. ensure_packages [--backports] PKG...
# Installs missing Debian packages when run as root; otherwise prints the exact
# command to run and fails, so nothing half-installs.

_apt_updated=0

_missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || printf '%s ' "$p"
  done
}

_enable_backports() {
  local f=/etc/apt/sources.list.d/fourcast-bookworm-backports.sources
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    cat > "$f" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    _apt_updated=0
  fi
}

ensure_packages() {
  local backports=0
  if [ "${1:-}" = --backports ]; then backports=1; shift; fi
  local missing; missing=$(_missing_packages "$@")
  [ -z "$missing" ] && return 0
  local target=''
  [ "$backports" = 1 ] && target='-t bookworm-backports '
  if [ "$(id -u)" != 0 ]; then
    printf '[setup] missing Debian packages: %s\n' "$missing" >&2
    [ "$backports" = 1 ] && printf '[setup] (from bookworm-backports: add it to /etc/apt/sources.list.d first)\n' >&2
    printf '[setup] run as root:  apt-get update && apt-get install -y %s%s\n' "$target" "$missing" >&2
    return 1
  fi
  [ "$backports" = 1 ] && _enable_backports
  if [ "$_apt_updated" = 0 ]; then
    printf '[setup] apt-get update\n'
    apt-get update -qq || { printf '[setup] apt-get update failed: check the network or apt sources\n' >&2; return 1; }
    _apt_updated=1
  fi
  printf '[setup] apt-get install %s%s\n' "$target" "$missing"
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $target $missing >/dev/null \
    || { printf '[setup] apt-get install failed for: %s\n' "$missing" >&2; return 1; }
}
