#!/usr/bin/env bash
# Fourcast setup: everything the README's two commands need, on a fresh Debian 12
# machine or a developer's box. Idempotent; a second run takes seconds.
#
#   bash scripts/setup.sh          # what `npm start` needs
#   bash scripts/setup.sh --test   # plus the tools the test suite drives (Chromium, coturn, ...)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
# shellcheck source=lib/packages.sh
. scripts/lib/packages.sh

want_test=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    *) echo "usage: bash scripts/setup.sh [--test]" >&2; exit 2 ;;
  esac
done

current=''
trap 'rc=$?; [ $rc -ne 0 ] && printf "\n[setup] FAILED at step: %s (exit %s). Fix the message above and re-run bash scripts/setup.sh.\n" "$current" "$rc" >&2' EXIT
step() { current="$1"; printf '[setup] == %s\n' "$1"; }
t0=$(date +%s)

step "Node.js and glibc (uWebSockets.js binaries)"
# First, before apt, npm ci and the worker build: uWebSockets.js is a native addon and
# its packages ship binaries for some Node.js/glibc combinations only (Node 20 on
# glibc >= 2.27; Node 20/22/24/25 on glibc >= 2.38). scripts/lib/runtime-check.mjs decides,
# prints what it detected and, when it refuses, what works.
command -v node >/dev/null || { echo "[setup] node not found: install Node.js 20 (glibc >= 2.27, e.g. Debian 12) or 22/24 (glibc >= 2.38: Debian 13, Ubuntu 24.04)" >&2; exit 1; }
node scripts/lib/runtime-check.mjs --prefix '[setup]'

step "Debian packages (runtime)"
# Runtime libraries of a source-built worker, and curl for the prebuilt download.
# (libsrtp2 is linked into the worker statically: built from Debian's source on OpenSSL.)
ensure_packages ca-certificates curl libssl3 libuv1 libusrsctp2 libabsl20220623
# ffmpeg: recording (admin routes) runs one ffmpeg per broadcaster segment; the node starts
# without it and recording start then answers 503. (setpriv, which ends encoders with the
# node, comes with util-linux, an essential package.)
ensure_packages ffmpeg
if [ "$want_test" = 1 ]; then
  step "Debian packages (test tools)"
  # ffmpeg (above): RTP test sources and ffprobe; chromium: e2e; coturn: TURN tests; prometheus: promtool;
  # nginx-light, caddy, openssl: TLS and reverse-proxy e2e; docker-compose, systemd: deploy file checks;
  # redis-server: cluster tests (each starts its own on a free port, never the service's 6379).
  ensure_packages chromium openssl docker-compose systemd
  ensure_packages --no-start coturn prometheus nginx-light caddy redis-server
fi

step "npm dependencies"
# .npmrc sets ignore-scripts=true: no dependency may download at install time.
# The stamp skips `npm ci` when package-lock.json has not changed.
lock_hash=$(sha256sum package-lock.json | cut -c1-16)
stamp=node_modules/.fourcast-lock
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_hash" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > "$stamp"
else
  echo "[setup] node_modules matches package-lock.json"
fi

step "mediasoup worker"
bash scripts/mediasoup-worker/build.sh

step "uWebSockets.js native binary"
# The server's own loader (src/signaling/uws.ts): the same choice and the same error as at start.
# shellcheck disable=SC2016  # JavaScript template literals, not shell expansions
node --import tsx --input-type=module -e '
  const { loadUws, uwsInfo } = await import("./src/signaling/uws.ts");
  try { loadUws(); } catch (err) { console.error(`[setup] ${err.message}`); process.exit(1); }
  console.log(`[setup] uWebSockets.js native binary loads: ${uwsInfo().summary}`);
'

if [ "$want_test" = 1 ]; then
  step "k6 (optional: load-test smoke in the test suite)"
  # k6 is AGPL-licensed; this project's package policy does not install it on its own.
  # A k6 the user installed (bash scripts/k6/install.sh builds the pinned release with Go)
  # is used; without one the k6 tests are reported as skipped, never as passed.
  bash scripts/k6/install.sh --check || echo "[setup] k6 not installed: test/loadtest k6 checks will be skipped (install it: see loadtest/README.md)"
fi

if [ "$want_test" = 1 ]; then
  step "WebRTC sink (Go: the media bench's browser-shaped viewers)"
  # loadtest/media/webrtcsink: pion/webrtc receivers, built with Go from the Go module proxy
  # into ~/.cache/fourcast (once per source version). Debian 12's own Go is too old; its
  # backports Go fetches the toolchain go.mod names through the module proxy.
  if ! command -v go >/dev/null && [ ! -x /usr/local/go/bin/go ]; then
    ensure_packages --backports golang-go
  fi
  # shellcheck disable=SC2016  # JavaScript, not shell expansions
  node --import tsx --input-type=module -e '
    const { buildWebrtcSink } = await import("./loadtest/media/webrtcSink.ts");
    console.log(`[setup] WebRTC sink: ${buildWebrtcSink()}`);
  '
fi

step "build (server + client)"
npm run --silent build

current=done
printf '[setup] ready in %s s\n' "$(( $(date +%s) - t0 ))"
