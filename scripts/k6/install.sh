#!/usr/bin/env bash
# Installs Grafana k6 (the load-test runner for loadtest/*.js) when it is missing.
#
#   bash scripts/k6/install.sh          # install if needed, print the binary's path
#   bash scripts/k6/install.sh --check  # only report; exit 1 when k6 is not installed
#
# k6 is not on npm (the `k6` npm package is only editor types) nor in Debian. With Go
# available it is built from source as a Go module at a pinned version
# (`go install go.k6.io/k6@v1.8.1`, a few minutes on two cores); otherwise this prints the
# usual ways to install it and exits 1. K6_VERSION=vX.Y.Z builds another 1.x release.
set -euo pipefail

# The release the load-test scripts were written and tested against (k6/websockets and
# k6/timers need 1.x). Built here with Go 1.26: `k6 version` -> k6 v1.8.1 (go1.26.8, linux/amd64).
K6_PINNED=v1.8.1
version="${K6_VERSION:-$K6_PINNED}"
case "$version" in
  v[0-9]*.[0-9]*.[0-9]*) ;;
  *) echo "[k6] K6_VERSION must be an exact release such as $K6_PINNED (got '$version'); @latest is not used" >&2; exit 2 ;;
esac

check_only=0
for arg in "$@"; do
  case "$arg" in
    --check) check_only=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "usage: bash scripts/k6/install.sh [--check]" >&2; exit 2 ;;
  esac
done

# Go may live outside PATH (the official tarball installs to /usr/local/go).
find_go() {
  if command -v go >/dev/null 2>&1; then command -v go; return 0; fi
  for g in /usr/local/go/bin/go "$HOME/go/bin/go" /usr/lib/go/bin/go; do
    [ -x "$g" ] && { echo "$g"; return 0; }
  done
  return 1
}

# k6 on PATH, else in Go's bin folder ($GOBIN or $(go env GOPATH)/bin).
find_k6() {
  if [ -n "${K6_BIN:-}" ] && [ -x "${K6_BIN}" ]; then echo "$K6_BIN"; return 0; fi
  if command -v k6 >/dev/null 2>&1; then command -v k6; return 0; fi
  local go dir
  if go=$(find_go); then
    dir=$("$go" env GOBIN 2>/dev/null || true)
    [ -n "$dir" ] && [ -x "$dir/k6" ] && { echo "$dir/k6"; return 0; }
    dir=$("$go" env GOPATH 2>/dev/null || true)
    [ -n "$dir" ] && [ -x "${dir%%:*}/bin/k6" ] && { echo "${dir%%:*}/bin/k6"; return 0; }
  fi
  [ -x "$HOME/go/bin/k6" ] && { echo "$HOME/go/bin/k6"; return 0; }
  return 1
}

print_instructions() {
  # @V@ = the pinned tag (v1.8.1), @N@ = the same without the v (Docker image tags).
  sed -e "s/@V@/$version/g" -e "s/@N@/${version#v}/g" >&2 <<'TXT'
[k6] k6 is not installed and Go is not available to build it. Install k6 @V@ one of these ways:

  Debian/Ubuntu (Grafana's apt repository):
    sudo gpg -k
    sudo gpg --no-default-keyring --keyring /usr/share/keyrings/k6-archive-keyring.gpg \
      --keyserver hkp://keyserver.ubuntu.com:80 --recv-keys C5AD17C747E3415A3642D57D77C6C491D6AC1D69
    echo "deb [signed-by=/usr/share/keyrings/k6-archive-keyring.gpg] https://dl.k6.io/deb stable main" \
      | sudo tee /etc/apt/sources.list.d/k6.list
    sudo apt-get update && sudo apt-get install k6

  macOS (Homebrew):     brew install k6
  Windows:              winget install k6 --source winget   (or: choco install k6)
  Docker:               docker run --rm -i --network host -v "$PWD:/src" -w /src grafana/k6:@N@ run loadtest/ws-viewers.js
  Release binaries:     https://github.com/grafana/k6/releases/tag/@V@ (unpack, put k6 on PATH or set K6_BIN)
  With Go (1.26 tried): go install go.k6.io/k6@@V@   (binary in $(go env GOPATH)/bin, found there)

Until then the k6 tests (test/loadtest/k6.int.test.ts) are reported as skipped, not passed.
Then re-run: bash scripts/k6/install.sh
TXT
}

if k6=$(find_k6); then
  found=$("$k6" version 2>/dev/null | head -n1)
  echo "[k6] found: $k6 ($found)"
  case "$found" in
    *"k6 $version "*|*"k6 $version") ;;
    *) echo "[k6] note: this is not $version, the version the load-test scripts were tested with; it is used as it is" ;;
  esac
  exit 0
fi
if [ "$check_only" = 1 ]; then
  echo "[k6] not installed (run: bash scripts/k6/install.sh)" >&2
  exit 1
fi

if ! go=$(find_go); then
  print_instructions
  exit 1
fi

echo "[k6] building k6@$version with $("$go" version) (takes a few minutes)..."
"$go" install "go.k6.io/k6@$version"

if k6=$(find_k6); then
  echo "[k6] installed: $k6 ($("$k6" version 2>/dev/null | head -n1))"
  case ":$PATH:" in
    *":$(dirname "$k6"):"*) ;;
    *) echo "[k6] note: $(dirname "$k6") is not on PATH; add it, or the loadtest scripts find it there by themselves" ;;
  esac
  exit 0
fi
echo "[k6] go install finished but no k6 binary was found in GOBIN/GOPATH/bin" >&2
exit 1
