#!/usr/bin/env bash
# Build FFTW (single precision, static, position-independent) from its source release into a
# prefix that CMake links into the extension (cmake -DOFS_FFTW_PREFIX=...).
#
#   bash scripts/build_fftw.sh [--prefix DIR] [--host TRIPLE]
#   bash scripts/build_fftw.sh --download-only     # only put the checked tarball in third_party/
#
# Used by the wheel builds (cibuildwheel's before-all), scripts/build_wheel.sh,
# scripts/arm_smoke.sh (cross builds, --host aarch64-linux-gnu) and, for an sdist on a machine
# without a system FFTW, by cmake/FindOrBuildFFTW.cmake. This file is the one place that names
# the FFTW release, its checksum and its configure options.
#
# The source tarball is taken from, in turn: $OFS_FFTW_TARBALL, third_party/ (the sdist ships
# it there), build/ (a previous download), or downloaded from fftw.org; its SHA256 is checked
# whichever it is. The default prefix, build/fftw-VERSION-ARCH, is reused when it already holds a
# build made with the same options. Prints the prefix on its last line.
set -euo pipefail

version=3.3.10
sha256=56c932549852cddcfafdab3820b0200c7742675be92179e59e6215b340e26467
url="https://www.fftw.org/fftw-${version}.tar.gz"

root="$(cd "$(dirname "$0")/.." && pwd)"
prefix=""
host=""
download_only=0
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --host) host="$2"; shift 2 ;;
        --download-only) download_only=1; shift ;;
        *) echo "usage: bash scripts/build_fftw.sh [--prefix DIR] [--host TRIPLE] | --download-only" >&2
           exit 2 ;;
    esac
done

arch="${host%%-*}"
[ -n "$arch" ] || arch="$(uname -m)"
[ -n "$prefix" ] || prefix="$root/build/fftw-${version}-${arch}"

# Only what the core calls: single precision (fftwf_*), no threads library (the core runs one
# FFT per calling thread and plans under its own lock), no Fortran wrappers, no docs.
# SIMD kernels are compiled with their own flags in their own files and chosen at run time
# (CPUID on x86; on 32-bit ARM a probe instruction), so the library runs on any CPU of the
# architecture. Explicit CFLAGS keep FFTW's configure from adding -mtune=native.
options=(--enable-float --enable-static --disable-shared --with-pic
         --disable-fortran --disable-doc --disable-dependency-tracking)
cflags="-O3 -fomit-frame-pointer -fstrict-aliasing -fPIC"
case "$arch" in
    x86_64 | amd64 | AMD64 | i686 | i386)
        options+=(--enable-sse2 --enable-avx --enable-avx2) ;;
    aarch64 | arm64)
        # As Debian builds it on arm64: NEON kernels, and no cycle counter (user space cannot
        # read it on most ARM kernels; the core plans with FFTW_ESTIMATE anyway).
        options+=(--enable-neon --with-slow-timer) ;;
    armv7l | armv7 | arm)
        # NEON kernels, probed at run time. The probe is an ARM-mode instruction written as a
        # raw word; compiled as Thumb-2 (the armhf compilers' default) the word decodes to other
        # instructions, the probe always answers yes, leaves a stale SIGILL handler behind, and
        # a CPU without NEON crashes (found by scripts/arm_smoke.sh). -marm keeps it right.
        options+=(--enable-neon --with-slow-timer)
        cflags="$cflags -marm" ;;
esac
[ -z "$host" ] || options+=(--host="$host")
cflags="${FFTW_CFLAGS:-$cflags}"

checksum() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

find_tarball() {
    local candidate
    for candidate in "${OFS_FFTW_TARBALL:-}" "$root/third_party/fftw-${version}.tar.gz" \
        "$root/build/fftw-${version}.tar.gz"; do
        if [ -n "$candidate" ] && [ -f "$candidate" ]; then
            echo "$candidate"
            return
        fi
    done
    local target="$root/build/fftw-${version}.tar.gz"
    mkdir -p "$root/build"
    echo "downloading $url" >&2
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --retry 3 -o "$target.part" "$url"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -O "$target.part" "$url"
    else
        python3 -c "import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])" \
            "$url" "$target.part"
    fi || {
        rm -f "$target.part"
        echo "build_fftw.sh: cannot download $url; put fftw-${version}.tar.gz (SHA256 $sha256)" \
            "in third_party/ or name it in OFS_FFTW_TARBALL. On Debian, with a deb-src line in" \
            "the apt sources, 'apt-get source --download-only fftw3' fetches the identical" \
            "tarball as fftw3_${version}.orig.tar.gz." >&2
        exit 1
    }
    mv "$target.part" "$target"
    echo "$target"
}

checked_tarball() {
    local tarball actual
    tarball="$(find_tarball)"
    actual="$(checksum "$tarball")"
    if [ "$actual" != "$sha256" ]; then
        echo "build_fftw.sh: $tarball has SHA256 $actual, expected $sha256 (FFTW ${version})" >&2
        exit 1
    fi
    echo "$tarball"
}

if [ "$download_only" = 1 ]; then
    tarball="$(checked_tarball)"
    mkdir -p "$root/third_party"
    bundled="$root/third_party/fftw-${version}.tar.gz"
    [ "$tarball" -ef "$bundled" ] || cp "$tarball" "$bundled"
    echo "$bundled"
    exit 0
fi

mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
stamp="$prefix/.ofs-fftw-build"
wanted="fftw ${version} ${options[*]} CC=${CC:-cc} CFLAGS=${cflags}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && [ -f "$prefix/lib/libfftw3f.a" ]; then
    echo "FFTW ${version} already built in $prefix" >&2
    echo "$prefix"
    exit 0
fi

tarball="$(checked_tarball)"
work="$(mktemp -d "${TMPDIR:-/tmp}/ofs-fftw.XXXXXX")"
trap 'rm -rf "$work"' EXIT
tar xzf "$tarball" -C "$work"
cd "$work/fftw-${version}"
jobs="${FFTW_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}"
log="$work/build.log"
failed() { tail -n 30 "$log" >&2; exit 1; }
case "$(uname -s)" in
    MINGW* | MSYS* | CYGWIN*)
        # Windows (MSVC): FFTW's CMake build, since autotools needs a Unix toolchain. It compiles
        # every file with the flags of the highest SIMD level enabled, so AVX would make the
        # whole library require AVX: SSE2 only, which every x86-64 CPU has.
        echo "building FFTW ${version} for Windows with CMake (float, SSE2)" >&2
        cmake -S . -B cmake-build -DCMAKE_INSTALL_PREFIX="$prefix" -DBUILD_SHARED_LIBS=OFF \
            -DBUILD_TESTS=OFF -DENABLE_FLOAT=ON -DENABLE_SSE2=ON -DENABLE_THREADS=OFF \
            >"$log" 2>&1 || failed
        cmake --build cmake-build --config Release --parallel "$jobs" >>"$log" 2>&1 || failed
        cmake --install cmake-build --config Release >>"$log" 2>&1 || failed
        ;;
    *)
        echo "building FFTW ${version} for $arch: ${options[*]}" >&2
        CFLAGS="$cflags" ./configure --prefix="$prefix" "${options[@]}" >"$log" 2>&1 || failed
        make -j"$jobs" >>"$log" 2>&1 || failed
        make install >>"$log" 2>&1 || failed
        ;;
esac
# FFTW is GPL-2.0-or-later: its licence and copyright notice travel with every build of it.
mkdir -p "$prefix/share/licenses/fftw"
cp COPYING COPYRIGHT "$prefix/share/licenses/fftw/"
echo "$wanted" >"$stamp"
echo "$prefix"
