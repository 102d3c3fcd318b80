#!/usr/bin/env bash
# Cross-build the pure C++ core and its smoke program (cpp/tests/core_smoke.cpp) for 64-bit and
# 32-bit ARM Linux, run them under QEMU's user-mode emulation, and compare what they print with
# this machine's own build. No Docker, no ARM machine:
#
#   bash scripts/arm_smoke.sh
#
# Needs Debian's cross compilers and QEMU (installed with apt-get when run as root):
# g++-aarch64-linux-gnu g++-arm-linux-gnueabihf qemu-user-static cmake. FFTW is cross-built from
# its source release by scripts/build_fftw.sh with the options the ARM wheels use (NEON), into
# build/fftw-VERSION-ARCH, and reused on later runs.
#
# Each build runs on the CPU of a Raspberry Pi: aarch64 on a Cortex-A72 (Pi 4), armhf on a
# Cortex-A7 (Pi 2) and, to exercise FFTW's run-time NEON probe and its scalar fallback, on a
# Cortex-A9 without NEON (as in NVIDIA's Tegra 2): armhf's baseline does not include NEON.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 || missing+=(g++-aarch64-linux-gnu)
command -v arm-linux-gnueabihf-g++ >/dev/null 2>&1 || missing+=(g++-arm-linux-gnueabihf)
command -v qemu-aarch64-static >/dev/null 2>&1 || missing+=(qemu-user-static)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "arm_smoke.sh: missing ${missing[*]}; install them with: apt-get install ${missing[*]}" >&2
        exit 1
    fi
    echo "installing ${missing[*]} with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# build NAME TOOLCHAIN HOST: configure and build cpp/tests into build/smoke-NAME.
build() {
    local name="$1" toolchain="$2" host="$3" prefix
    if [ -n "$host" ]; then
        prefix="$(bash scripts/build_fftw.sh --host "$host" | tail -n 1)"
    else
        prefix="$(bash scripts/build_fftw.sh | tail -n 1)"
    fi
    local configure=(cmake -S cpp/tests -B "build/smoke-$name" -DCMAKE_BUILD_TYPE=Release
                     -DOFS_FFTW_PREFIX="$prefix")
    [ -z "$toolchain" ] || configure+=(-DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchains/$toolchain")
    "${configure[@]}" >"build/smoke-$name.log" 2>&1 || { cat "build/smoke-$name.log" >&2; exit 1; }
    cmake --build "build/smoke-$name" --parallel >>"build/smoke-$name.log" 2>&1 ||
        { tail -n 40 "build/smoke-$name.log" >&2; exit 1; }
}

mkdir -p build
build native "" ""
build aarch64 aarch64-linux-gnu.cmake aarch64-linux-gnu
build armhf arm-linux-gnueabihf.cmake arm-linux-gnueabihf

status=0
# run LABEL COMMAND...: run one build, keep its printout, compare it with the native one.
run() {
    local label="$1"
    shift
    local printout="build/smoke-$label.txt"
    if ! "$@" >"$printout" 2>&1; then
        echo "FAIL $label: the smoke program reported wrong results or crashed" >&2
        cat "$printout" >&2
        status=1
        return
    fi
    if [ "$label" != native ]; then
        if diff -u build/smoke-native.txt "$printout" >"build/smoke-$label.diff"; then
            echo "ok   $label: results identical to the native build"
        else
            echo "FAIL $label: results differ from the native build" >&2
            cat "build/smoke-$label.diff" >&2
            status=1
        fi
    else
        cat "$printout"
        echo "ok   native"
    fi
}

run native build/smoke-native/core_smoke
run aarch64-cortex-a72 qemu-aarch64-static -cpu cortex-a72 -L /usr/aarch64-linux-gnu \
    build/smoke-aarch64/core_smoke
run armhf-cortex-a7 qemu-arm-static -cpu cortex-a7 -L /usr/arm-linux-gnueabihf \
    build/smoke-armhf/core_smoke
run armhf-no-neon qemu-arm-static -cpu cortex-a9,neon=off -L /usr/arm-linux-gnueabihf \
    build/smoke-armhf/core_smoke
exit "$status"
