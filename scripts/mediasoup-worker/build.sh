#!/usr/bin/env bash
# Obtains a mediasoup-worker binary for the installed mediasoup version and
# installs it where mediasoup looks for it. Order:
#   1. cache: a prebuilt entry, then a source-built entry
#   2. upstream's prebuilt download (needs GitHub)
#   3. source build against Debian libraries via shim subprojects, with libsrtp2 rebuilt
#      from Debian's source package against OpenSSL (Debian's own binary package uses NSS,
#      which recreates a cipher context for every packet: see docs/performance.md)
# FOURCAST_WORKER_FROM_SOURCE=1 skips prebuilt binaries altogether (cached or downloaded).
#
# The cache lives outside the clone and is keyed by origin:
#   prebuilt-<mediasoup>-<platform>-<arch>-kernel<major>    (upstream's own prebuilt name)
#   <mediasoup>-<os release>-<arch>-nouring-<recipe hash>   (source build: everything that shapes it)
# Each entry, and the installed binary, has <binary>.origin.json next to it:
#   {"origin":"prebuilt"|"source","mediasoupVersion":...,"cacheKey":...,"sha256":...}
# which src/media/workerBinary.ts reads (GET /admin/workers, bench reports).
#
#   bash scripts/mediasoup-worker/build.sh          # obtain and install
#   bash scripts/mediasoup-worker/build.sh --keys   # print the two cache keys and folders, change nothing
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
ms_dir="$root/node_modules/mediasoup"
target="$ms_dir/worker/out/Release/mediasoup-worker"

step() { printf '[worker] %s\n' "$*"; }
die() { printf '[worker] FAILED: %s\n' "$*" >&2; exit 1; }

print_keys=0
for arg in "$@"; do
  case "$arg" in
    --keys) print_keys=1 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "usage: bash scripts/mediasoup-worker/build.sh [--keys]" >&2; exit 2 ;;
  esac
done

[ -f "$ms_dir/package.json" ] || die "node_modules/mediasoup is missing: run 'npm ci' first."
version=$(node -p "require('$ms_dir/package.json').version")
arch=$(uname -m)
kernel_major=$(uname -r | cut -d. -f1)
os_id=$( . /etc/os-release && echo "${ID}-${VERSION_ID:-unknown}")
node_os=$(node -p 'process.platform + "-" + process.arch')   # upstream's naming: linux-x64
from_source="${FOURCAST_WORKER_FROM_SOURCE:-0}"

# What shapes a source build: the shims, the meson options and the source fix.
# They form its cache key, so changing any of them rebuilds (log-only edits do not).
# liburing stays off: with it (through a shim for Debian's liburing 2.3) the worker spent the
# same CPU per forwarded packet here (bench/results/worker-ab-uring-*.md: 1.00–1.15× of
# without), and every one of its windows lost packets.
meson_opts=(--buildtype release -Db_ndebug=true -Dms_disable_liburing=true --wrap-mode=nodownload)
ktls_from='(operationType == BIO_CB_RETURN) ? static_cast<long>(ret) : 1'
ktls_to='(operationType \& BIO_CB_RETURN) ? static_cast<long>(ret) : 1'
# libsrtp2 from Debian's source package (`apt-get source`), static, on OpenSSL.
srtp_opts=(--buildtype release -Db_ndebug=true -Ddefault_library=static -Dcrypto-library=openssl -Dcrypto-library-kdf=disabled -Dtests=disabled -Dpcap-tests=disabled -Ddoc=disabled)
recipe=$( { (cd "$here/shims" && find . -type f | LC_ALL=C sort | xargs sha256sum); echo "${meson_opts[*]}" "$ktls_to" "${srtp_opts[*]}"; } \
  | sha256sum | cut -c1-16)
source_key="${version}-${os_id}-${arch}-nouring-${recipe}"
# A prebuilt binary is upstream's file for this version, platform, arch and kernel major
# (the same parts as its download name); nothing of the local recipe shapes it.
prebuilt_key="prebuilt-${version}-${node_os}-kernel${kernel_major}"
cache_root="${FOURCAST_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fourcast}/mediasoup-worker"

if [ "$print_keys" = 1 ]; then
  printf 'prebuilt\t%s\t%s\n' "$prebuilt_key" "$cache_root/$prebuilt_key"
  printf 'source\t%s\t%s\n' "$source_key" "$cache_root/$source_key"
  exit 0
fi

# A worker run without MEDIASOUP_VERSION exits 41: the cheapest proof that the
# binary loads its shared libraries and runs on this host (mediasoup's own check).
works() {
  local rc=0
  "$1" >/dev/null 2>&1 </dev/null || rc=$?
  [ "$rc" -eq 41 ]
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# write_origin FILE ORIGIN KEY SHA256 [DETAIL]: the origin record next to a binary.
write_origin() {
  node -e '
    const [file, origin, mediasoupVersion, cacheKey, sha256, detail] = process.argv.slice(1);
    const record = { origin, mediasoupVersion, cacheKey, sha256, recordedAt: new Date().toISOString() };
    if (detail) record[origin === "prebuilt" ? "url" : "recipe"] = detail;
    require("fs").writeFileSync(file + ".tmp", JSON.stringify(record, null, 2) + "\n");
    require("fs").renameSync(file + ".tmp", file);
  ' "$1" "$2" "$version" "$3" "$4" "${5:-}"
}

# origin_in DIR: the origin a cache entry claims (origin record, else the older
# one-word `origin` file), or nothing.
origin_in() {
  local dir="$1"
  if [ -f "$dir/mediasoup-worker.origin.json" ]; then
    node -e 'try { process.stdout.write(String(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).origin ?? "")) } catch {}' \
      "$dir/mediasoup-worker.origin.json"
  elif [ -f "$dir/origin" ]; then
    tr -d '[:space:]' < "$dir/origin"
  fi
}

# cached ORIGIN KEY: succeeds when that cache entry holds a working binary of that origin.
# An entry without any record counts as what its key says (source entries made before the
# records existed); one whose record claims another origin is skipped (before origins had
# their own keys, a prebuilt download was cached under the source key).
cached() {
  local origin="$1" dir="$cache_root/$2" claimed
  [ -x "$dir/mediasoup-worker" ] || return 1
  claimed=$(origin_in "$dir")
  if [ -n "$claimed" ] && [ "$claimed" != "$origin" ]; then
    step "ignoring cache entry $dir: it holds a $claimed binary, not a $origin one"
    return 1
  fi
  if [ -f "$dir/mediasoup-worker.origin.json" ]; then
    local recorded; recorded=$(node -e 'try { process.stdout.write(String(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).sha256 ?? "")) } catch {}' \
      "$dir/mediasoup-worker.origin.json")
    if [ "$recorded" != "$(sha256_of "$dir/mediasoup-worker")" ]; then
      step "ignoring cache entry $dir: the binary is not the one its record describes"
      return 1
    fi
  fi
  works "$dir/mediasoup-worker"
}

# store ORIGIN KEY BINARY [DETAIL]: copies a binary into its cache entry, with its record.
store() {
  local dir="$cache_root/$2"
  mkdir -p "$dir"
  cp "$3" "$dir/mediasoup-worker.tmp" && chmod 755 "$dir/mediasoup-worker.tmp" && mv -f "$dir/mediasoup-worker.tmp" "$dir/mediasoup-worker"
  write_origin "$dir/mediasoup-worker.origin.json" "$1" "$2" "$(sha256_of "$dir/mediasoup-worker")" "${4:-}"
  rm -f "$dir/origin"
}

# adopt ORIGIN KEY: gives a cache entry made before origin records existed its record.
adopt() {
  local dir="$cache_root/$2"
  [ -f "$dir/mediasoup-worker.origin.json" ] && return 0
  write_origin "$dir/mediasoup-worker.origin.json" "$1" "$2" "$(sha256_of "$dir/mediasoup-worker")"
  rm -f "$dir/origin"
}

# install_from ORIGIN KEY: installs a cache entry's binary where mediasoup looks, with its
# origin record next to it (the sha256 is the installed file's own).
install_from() {
  local dir="$cache_root/$2" detail=''
  [ -f "$dir/mediasoup-worker.origin.json" ] && detail=$(node -e '
    try { const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.stdout.write(String(r.url ?? r.recipe ?? "")) } catch {}
  ' "$dir/mediasoup-worker.origin.json")
  mkdir -p "$(dirname "$target")"
  # The old record goes first: a reader never sees a new binary next to an old record that matches it.
  rm -f "$target.origin.json"
  cp "$dir/mediasoup-worker" "$target.tmp" && chmod 755 "$target.tmp" && mv -f "$target.tmp" "$target"
  local sha; sha=$(sha256_of "$target")
  write_origin "$target.origin.json" "$1" "$2" "$sha" "$detail"
  step "installed $target ($1, mediasoup $version, cache key $2, sha256 ${sha:0:16}…)"
}

mkdir -p "$cache_root"
# One lock for the whole lookup: two setups never build or download the same thing twice.
exec 9>"$cache_root/.lock"
flock 9

if [ "$from_source" != 1 ] && cached prebuilt "$prebuilt_key"; then
  step "cache hit (prebuilt): $cache_root/$prebuilt_key"
  adopt prebuilt "$prebuilt_key"
  install_from prebuilt "$prebuilt_key"
  exit 0
fi
if cached source "$source_key"; then
  step "cache hit (source build): $cache_root/$source_key"
  adopt source "$source_key"
  install_from source "$source_key"
  exit 0
fi

try_prebuilt() {
  if [ "$from_source" = 1 ]; then
    step "FOURCAST_WORKER_FROM_SOURCE=1: not using upstream's prebuilt binary"
    return 1
  fi
  local base="${MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL:-https://github.com/versatica/mediasoup/releases/download}"
  local url="$base/$version/mediasoup-worker-$version-$node_os-kernel$kernel_major.tgz"
  local tmp; tmp=$(mktemp -d)
  step "trying upstream prebuilt: $url"
  if curl -fsSL --connect-timeout 10 --max-time 180 "$url" -o "$tmp/w.tgz" 2>/dev/null \
     && tar -xzf "$tmp/w.tgz" -C "$tmp" && [ -f "$tmp/mediasoup-worker" ] && works "$tmp/mediasoup-worker"; then
    store prebuilt "$prebuilt_key" "$tmp/mediasoup-worker" "$url"
    rm -rf "$tmp"
    return 0
  fi
  rm -rf "$tmp"
  step "no usable prebuilt (offline or unsupported host): building from source"
  return 1
}

build_from_source() {
  [ -f "$ms_dir/worker/meson.build" ] || die "node_modules/mediasoup/worker has no sources to build (the npm package ships them): reinstall with 'npm ci'."
  # shellcheck source=../lib/packages.sh
  . "$root/scripts/lib/packages.sh"
  ensure_packages build-essential pkgconf ninja-build python3 libssl-dev libuv1-dev dpkg-dev \
    libusrsctp-dev libabsl-dev libflatbuffers-dev flatbuffers-compiler \
    || die "build packages are missing (see above)."
  ensure_deb_src || die "libsrtp2 is built from Debian's source package: a deb-src entry for bookworm is needed (see above)."
  ensure_packages --backports meson || die "meson >= 1.1 from bookworm-backports is missing (see above)."
  for tool in meson ninja pkg-config flatc c++; do
    command -v "$tool" >/dev/null || die "'$tool' not found: run scripts/setup.sh as root to install the build packages."
  done
  local meson_v; meson_v=$(meson --version)
  node -e "const [a,b]=process.argv[1].split('.').map(Number); process.exit(a>1||(a===1&&b>=1)?0:1)" "$meson_v" \
    || die "meson $meson_v is too old (mediasoup needs >= 1.1.0): install it from bookworm-backports (scripts/setup.sh does)."

  local dir="$cache_root/$source_key"
  mkdir -p "$dir"
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
    local sub; sub=$(sed -n 's/^directory *= *//p' "$wrap")
    rm -rf "${w:?}/subprojects/$sub"
    cp -r "$shim" "$w/subprojects/$sub"
  done

  # Debian's libssl has kernel-TLS support; mediasoup's BIO callback then
  # reports KTLS as enabled and the worker crashes on the first DTLS handshake.
  local dtls="$w/src/RTC/DtlsTransport.cpp"
  sed -i "s/$ktls_from/$ktls_to/" "$dtls"
  grep -q '(operationType & BIO_CB_RETURN) ? static_cast<long>(ret) : 1' "$dtls" \
    || die "the DTLS KTLS fix did not apply to $dtls: check the line in this mediasoup version."

  local jobs="${FOURCAST_BUILD_JOBS:-$(nproc)}"
  build_srtp "$work" "$jobs"

  step "meson setup (log: $work/build.log)"
  (
    cd "$w"
    # The libsrtp2 shim's dependency('libsrtp2') finds the OpenSSL build first.
    export PKG_CONFIG_PATH="$work/srtp/lib/pkgconfig"
    meson setup out/Release "${meson_opts[@]}"
    # Generated FBS headers first: mediasoup's targets do not all depend on them.
    meson compile -C out/Release -j "$jobs" flatbuffers-generator
    meson compile -C out/Release -j "$jobs" mediasoup-worker
  ) >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; cp "$work/build.log" "$dir/build-failed.log"; die "source build failed; full log kept at $dir/build-failed.log"; }
  local bin="$w/out/Release/mediasoup-worker"
  works "$bin" || die "built worker does not run on this host (expected exit code 41 without MEDIASOUP_VERSION)."
  strip "$bin" 2>/dev/null || true
  store source "$source_key" "$bin" "$recipe; libsrtp2 $srtp_version (Debian source) on OpenSSL"
  rm -f "$dir/build-failed.log"
}

# build_srtp WORK JOBS: Debian's libsrtp2 source (its patches applied by dpkg-source), built
# as a static library on OpenSSL into WORK/srtp. Sets srtp_version (the Debian version).
build_srtp() {
  local work="$1" jobs="$2" dsc
  step "libsrtp2 from Debian's source package, on OpenSSL (log: $work/srtp.log)"
  (
    cd "$work"
    # A deb-src entry that was there before this run may never have been fetched: update once.
    apt-get source --download-only libsrtp2 || { apt-get update -qq && apt-get source --download-only libsrtp2; }
    dsc=$(ls libsrtp2_*.dsc | head -n 1)
    dpkg-source -x "$dsc" srtp-src
    meson setup srtp-build srtp-src --prefix "$work/srtp" --libdir lib "${srtp_opts[@]}"
    ninja -C srtp-build -j "$jobs" install
  ) >"$work/srtp.log" 2>&1 || { tail -n 30 "$work/srtp.log" >&2; die "libsrtp2 source build failed (log above)."; }
  srtp_version=$(ls "$work"/libsrtp2_*.dsc | head -n 1 | sed 's/.*libsrtp2_\(.*\)\.dsc$/\1/')
  [ -f "$work/srtp/lib/libsrtp2.a" ] || die "libsrtp2 source build left no libsrtp2.a"
}

started=$(date +%s)
if try_prebuilt; then
  origin=prebuilt key=$prebuilt_key
else
  build_from_source
  origin=source key=$source_key
fi
step "worker ready in $(( $(date +%s) - started )) s, cached at $cache_root/$key/mediasoup-worker"
install_from "$origin" "$key"
