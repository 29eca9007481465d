# shellcheck shell=bash
# Sourced by the setup scripts (under `set -euo pipefail`).
#   ensure_packages [--backports] PKG...   install missing Debian packages
#   ensure_deb_src                         add a bookworm deb-src entry (for `apt-get source`)
#   debian_archive_uri                     the URI of this machine's Debian (bookworm) archive
# Installs when run as root; otherwise prints the exact command to run and fails, so
# nothing half-installs.
#
# Entries this file adds (bookworm-backports, deb-src) reuse the URI and keyring of the
# machine's existing Debian entry, so a machine behind a local mirror or proxy keeps using
# it; deb.debian.org is only the fallback when no bookworm entry is found (and it says so).
# FOURCAST_APT_DIR (default /etc/apt) moves everything read and written here, for tests.

_apt_updated=0
_DEBIAN_FALLBACK_URI=http://deb.debian.org/debian
_DEBIAN_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

_apt_dir() { printf '%s' "${FOURCAST_APT_DIR:-/etc/apt}"; }

_missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || printf '%s ' "$p"
  done
}

# _apt_entry TYPE SUITE: prints "URI<TAB>SIGNED_BY" of the first enabled apt entry of
# TYPE (deb or deb-src) for SUITE with the `main` component, or fails when there is none.
# Reads, in this order, <apt>/sources.list.d/*.sources (deb822: Types/URIs/Suites/
# Components/Signed-By/Enabled), <apt>/sources.list and <apt>/sources.list.d/*.list
# (one-line `deb [options] URI SUITE COMPONENT...`). SIGNED_BY is empty unless the entry
# names a keyring file. Files with other names (e.g. *.disabled) are ignored, as apt does.
_apt_entry() {
  local type="$1" suite="$2" apt; apt=$(_apt_dir)
  local deb822=() oneline=() f
  for f in "$apt"/sources.list.d/*.sources; do [ -f "$f" ] && deb822+=("$f"); done
  [ -f "$apt/sources.list" ] && oneline+=("$apt/sources.list")
  for f in "$apt"/sources.list.d/*.list; do [ -f "$f" ] && oneline+=("$f"); done
  local out=''
  if [ "${#deb822[@]}" -gt 0 ]; then
    out=$(awk -v want="$type" -v suite="$suite" '
      function has(list, word,   n, i, a) { n = split(list, a, /[ \t]+/); for (i = 1; i <= n; i++) if (a[i] == word) return 1; return 0 }
      function reset() { types = ""; uris = ""; suites = ""; comps = ""; signed = ""; enabled = 1; field = "" }
      function flush(   u) {
        if (!found && uris != "" && enabled && has(types, want) && has(suites, suite) && has(comps, "main")) {
          split(uris, u, /[ \t]+/)
          if (u[1] !~ /^cdrom:/) { found = 1; print u[1] "\t" (signed ~ /^\// ? signed : "") }
        }
        reset()
      }
      BEGIN { reset() }
      FNR == 1 { flush() }
      /^#/ { next }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]/ {   # continuation of the previous field (e.g. an inline key: not a file)
        if (field == "uris") uris = uris " " $1
        else if (field == "suites") suites = suites " " $1
        else if (field == "components") comps = comps " " $1
        else if (field == "types") types = types " " $1
        else if (field == "signed-by") signed = "inline"
        next
      }
      {
        i = index($0, ":"); if (!i) next
        field = tolower(substr($0, 1, i - 1)); value = substr($0, i + 1)
        gsub(/^[ \t]+|[ \t]+$/, "", value)
        if (field == "types") types = value
        else if (field == "uris") uris = value
        else if (field == "suites") suites = value
        else if (field == "components") comps = value
        else if (field == "signed-by") signed = value
        else if (field == "enabled") enabled = (tolower(value) != "no")
      }
      END { flush() }
    ' "${deb822[@]}")
  fi
  if [ -z "$out" ] && [ "${#oneline[@]}" -gt 0 ]; then
    out=$(awk -v want="$type" -v suite="$suite" '
      {
        sub(/#.*/, "")
        n = split($0, f, /[ \t]+/); if (f[1] == "") { for (i = 1; i < n; i++) f[i] = f[i + 1]; n-- }
        if (n < 4 || f[1] != want) next
        i = 2; signed = ""
        if (f[i] ~ /^\[/) {   # [ option=value ... ], possibly spread over several fields
          opts = ""
          while (i <= n) { opts = opts " " f[i]; if (f[i] ~ /\]$/) break; i++ }
          i++
          if (match(opts, /signed-by=[^] \t]+/)) signed = substr(opts, RSTART + 10, RLENGTH - 10)
        }
        uri = f[i]; s = f[i + 1]; main = 0
        for (j = i + 2; j <= n; j++) if (f[j] == "main") main = 1
        if (s == suite && main && uri != "" && uri !~ /^cdrom:/) { print uri "\t" (signed ~ /^\// ? signed : ""); exit }
      }
    ' "${oneline[@]}")
  fi
  [ -n "$out" ] || return 1
  printf '%s\n' "$out"
}

# The URI of the Debian archive this machine already uses for bookworm (a local mirror or
# proxy included). Falls back to deb.debian.org, with a note on stderr, when none is found.
debian_archive_uri() {
  local entry
  if entry=$(_apt_entry deb bookworm); then
    printf '%s\n' "${entry%%$'\t'*}"
  else
    printf '[setup] no enabled "deb ... bookworm main" entry in %s/sources.list{,.d}: using %s\n' "$(_apt_dir)" "$_DEBIAN_FALLBACK_URI" >&2
    printf '%s\n' "$_DEBIAN_FALLBACK_URI"
  fi
}

# _write_debian_entry FILE TYPES SUITES: writes a deb822 entry with the URI and keyring
# of the machine's Debian entry (the keyring defaults to Debian's archive keyring).
_write_debian_entry() {
  local file="$1" types="$2" suites="$3" entry uri signed=''
  if entry=$(_apt_entry deb bookworm); then
    uri=${entry%%$'\t'*}
    signed=${entry#*$'\t'}
  else
    uri=$(debian_archive_uri)
  fi
  [ -n "$signed" ] || signed=$_DEBIAN_KEYRING
  mkdir -p "$(dirname "$file")"
  printf 'Types: %s\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' "$types" "$uri" "$suites" "$signed" > "$file"
  printf '[setup] added %s (%s %s from %s)\n' "$file" "$types" "$suites" "$uri"
}

_enable_backports() {
  _apt_entry deb bookworm-backports >/dev/null && return 0
  _write_debian_entry "$(_apt_dir)/sources.list.d/fourcast-bookworm-backports.sources" deb bookworm-backports
  _apt_updated=0
}

# Adds a deb-src entry for bookworm (same URI and keyring as the deb entry) unless one is
# there, then runs apt-get update, so `apt-get source --download-only PKG` works.
ensure_deb_src() {
  if _apt_entry deb-src bookworm >/dev/null; then return 0; fi
  local file; file="$(_apt_dir)/sources.list.d/fourcast-bookworm-src.sources"
  if [ "$(id -u)" != 0 ]; then
    printf '[setup] no deb-src entry for bookworm. As root, create %s with:\n' "$file" >&2
    printf '  Types: deb-src\n  URIs: %s\n  Suites: bookworm\n  Components: main\n  Signed-By: %s\n' "$(debian_archive_uri 2>/dev/null)" "$_DEBIAN_KEYRING" >&2
    printf '[setup] then run: apt-get update\n' >&2
    return 1
  fi
  _write_debian_entry "$file" deb-src bookworm
  printf '[setup] apt-get update\n'
  apt-get update -qq || { printf '[setup] apt-get update failed: check the network or apt sources\n' >&2; return 1; }
  _apt_updated=1
}

ensure_packages() {
  local backports=0 no_start=0
  while :; do
    case "${1:-}" in
      --backports) backports=1; shift ;;
      # Test tools that are also daemons (nginx, caddy): install them without starting their
      # services, through Debian's policy-rc.d convention, so setup opens no port on the machine.
      --no-start) no_start=1; shift ;;
      *) break ;;
    esac
  done
  local missing; missing=$(_missing_packages "$@")
  [ -z "$missing" ] && return 0
  local target=''
  [ "$backports" = 1 ] && target='-t bookworm-backports '
  if [ "$(id -u)" != 0 ]; then
    printf '[setup] missing Debian packages: %s\n' "$missing" >&2
    if [ "$backports" = 1 ] && ! _apt_entry deb bookworm-backports >/dev/null; then
      printf '[setup] bookworm-backports is not enabled: as root, create %s/sources.list.d/fourcast-bookworm-backports.sources with:\n' "$(_apt_dir)" >&2
      printf '  Types: deb\n  URIs: %s\n  Suites: bookworm-backports\n  Components: main\n  Signed-By: %s\n' "$(debian_archive_uri 2>/dev/null)" "$_DEBIAN_KEYRING" >&2
    fi
    printf '[setup] run as root:  apt-get update && apt-get install -y %s%s\n' "$target" "$missing" >&2
    return 1
  fi
  if [ "$backports" = 1 ]; then _enable_backports; fi
  if [ "$_apt_updated" = 0 ]; then
    printf '[setup] apt-get update\n'
    apt-get update -qq || { printf '[setup] apt-get update failed: check the network or apt sources\n' >&2; return 1; }
    _apt_updated=1
  fi
  printf '[setup] apt-get install %s%s\n' "$target" "$missing"
  local policy=/usr/sbin/policy-rc.d placed=0 rc=0
  if [ "$no_start" = 1 ] && [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# fourcast setup: do not start services of packages it installs\nexit 101\n' > "$policy" && chmod 755 "$policy" && placed=1
  fi
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $target $missing >/dev/null || rc=$?
  [ "$placed" = 1 ] && rm -f "$policy"
  [ "$rc" = 0 ] || { printf '[setup] apt-get install failed for: %s\n' "$missing" >&2; return 1; }
}
