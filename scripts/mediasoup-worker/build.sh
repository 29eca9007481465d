#!/usr/bin/env bash
# Obtains a mediasoup-worker binary for the installed mediasoup version and
# installs it where mediasoup looks for it. Order: cache -> upstream prebuilt
# (needs GitHub) -> source build against Debian libraries via shim subprojects.
# The result is cached outside the clone, keyed by everything that shapes it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
ms_dir="$root/node_modules/mediasoup"
target="$ms_dir/worker/out/Release/mediasoup-worker"

step() { printf '[worker] %s\n' "$*"; }
die() { printf '[worker] FAILED: %s\n' "$*" >&2; exit 1; }

[ -f "$ms_dir/package.json" ] || die "node_modules/mediasoup is missing: run 'npm ci' first."
version=$(node -p "require('$ms_dir/package.json').version")
arch=$(uname -m)
kernel_major=$(uname -r | cut -d. -f1)
os_id=$( . /etc/os-release && echo "${ID}-${VERSION_ID:-unknown}")
# What shapes the binary: the shims, the meson options and the source fix.
# They form the cache key, so changing any of them rebuilds (log-only edits do not).
meson_opts=(--buildtype release -Db_ndebug=true -Dms_disable_liburing=true --wrap-mode=nodownload)
ktls_from='(operationType == BIO_CB_RETURN) ? static_cast<long>(ret) : 1'
ktls_to='(operationType \& BIO_CB_RETURN) ? static_cast<long>(ret) : 1'
recipe=$( { (cd "$here/shims" && find . -type f | LC_ALL=C sort | xargs sha256sum); echo "${meson_opts[*]}" "$ktls_to"; } \
  | sha256sum | cut -c1-16)
key="${version}-${os_id}-${arch}-nouring-${recipe}"
cache_root="${FOURCAST_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fourcast}/mediasoup-worker"
cache_dir="$cache_root/$key"
cached="$cache_dir/mediasoup-worker"

# A worker run without MEDIASOUP_VERSION exits 41: the cheapest proof that the
# binary loads its shared libraries and runs on this host (mediasoup's own check).
works() {
  local rc=0
  "$1" >/dev/null 2>&1 </dev/null || rc=$?
  [ "$rc" -eq 41 ]
}

install_bin() {
  mkdir -p "$(dirname "$target")"
  cp "$1" "$target.tmp" && chmod 755 "$target.tmp" && mv -f "$target.tmp" "$target"
  step "installed $target ($(cat "$cache_dir/origin" 2>/dev/null || echo unknown))"
}

mkdir -p "$cache_dir"
exec 9>"$cache_dir/.lock"
flock 9

if [ -x "$cached" ] && works "$cached"; then
  step "cache hit: $cached"
  install_bin "$cached"
  exit 0
fi

try_prebuilt() {
  [ "${FOURCAST_WORKER_FROM_SOURCE:-0}" = 1 ] && return 1
  local base="${MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL:-https://github.com/versatica/mediasoup/releases/download}"
  local os; os=$(node -p 'process.platform + "-" + process.arch')
  local url="$base/$version/mediasoup-worker-$version-$os-kernel$kernel_major.tgz"
  local tmp; tmp=$(mktemp -d)
  step "trying upstream prebuilt: $url"
  if curl -fsSL --connect-timeout 10 --max-time 180 "$url" -o "$tmp/w.tgz" 2>/dev/null \
     && tar -xzf "$tmp/w.tgz" -C "$tmp" && [ -f "$tmp/mediasoup-worker" ] && works "$tmp/mediasoup-worker"; then
    cp "$tmp/mediasoup-worker" "$cached.tmp" && mv -f "$cached.tmp" "$cached"
    echo prebuilt > "$cache_dir/origin"
    rm -rf "$tmp"
    return 0
  fi
  rm -rf "$tmp"
  step "no usable prebuilt (offline or unsupported host): building from source"
  return 1
}

build_from_source() {
  # shellcheck source=../lib/packages.sh
  . "$root/scripts/lib/packages.sh"
  ensure_packages build-essential pkgconf ninja-build python3 libssl-dev libuv1-dev libsrtp2-dev \
    libusrsctp-dev libabsl-dev libflatbuffers-dev flatbuffers-compiler \
    || die "build packages are missing (see above)."
  ensure_packages --backports meson || die "meson >= 1.1 from bookworm-backports is missing (see above)."
  for tool in meson ninja pkg-config flatc c++; do
    command -v "$tool" >/dev/null || die "'$tool' not found: run scripts/setup.sh as root to install the build packages."
  done
  local meson_v; meson_v=$(meson --version)
  node -e "const [a,b]=process.argv[1].split('.').map(Number); process.exit(a>1||(a===1&&b>=1)?0:1)" "$meson_v" \
    || die "meson $meson_v is too old (mediasoup needs >= 1.1.0): install it from bookworm-backports (scripts/setup.sh does)."

  work=$(mktemp -d "${TMPDIR:-/tmp}/fourcast-worker.XXXXXX")
  trap 'rm -rf "${work:-}"' EXIT
  cp -r "$ms_dir/worker" "$work/worker"
  rm -rf "$work/worker/out" "$work/worker/prebuild"
  local w="$work/worker"

  # Each shim goes where meson would unpack the subproject: the .wrap's `directory`.
  for shim in "$here"/shims/*; do
    local name; name=$(basename "$shim")
    local wrap="$w/subprojects/$name.wrap"
    [ -f "$wrap" ] || die "mediasoup $version has no subprojects/$name.wrap: the shim recipe does not fit this version."
    local dir; dir=$(sed -n 's/^directory *= *//p' "$wrap")
    rm -rf "${w:?}/subprojects/$dir"
    cp -r "$shim" "$w/subprojects/$dir"
  done

  # Debian's libssl has kernel-TLS support; mediasoup's BIO callback then
  # reports KTLS as enabled and the worker crashes on the first DTLS handshake.
  local dtls="$w/src/RTC/DtlsTransport.cpp"
  sed -i "s/$ktls_from/$ktls_to/" "$dtls"
  grep -q '(operationType & BIO_CB_RETURN) ? static_cast<long>(ret) : 1' "$dtls" \
    || die "the DTLS KTLS fix did not apply to $dtls: check the line in this mediasoup version."

  step "meson setup (log: $work/build.log)"
  local jobs="${FOURCAST_BUILD_JOBS:-$(nproc)}"
  (
    cd "$w"
    meson setup out/Release "${meson_opts[@]}"
    # Generated FBS headers first: mediasoup's targets do not all depend on them.
    meson compile -C out/Release -j "$jobs" flatbuffers-generator
    meson compile -C out/Release -j "$jobs" mediasoup-worker
  ) >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; cp "$work/build.log" "$cache_dir/build-failed.log"; die "source build failed; full log kept at $cache_dir/build-failed.log"; }
  local bin="$w/out/Release/mediasoup-worker"
  works "$bin" || die "built worker does not run on this host (expected exit code 41 without MEDIASOUP_VERSION)."
  strip "$bin" 2>/dev/null || true
  cp "$bin" "$cached.tmp" && mv -f "$cached.tmp" "$cached"
  echo source > "$cache_dir/origin"
}

started=$(date +%s)
try_prebuilt || build_from_source
step "worker ready in $(( $(date +%s) - started )) s, cached at $cached"
install_bin "$cached"
