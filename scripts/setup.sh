#!/usr/bin/env bash
# Set up ofs-stitch from this checkout on Debian, Ubuntu or Raspberry Pi OS, then run a job.
#
#   bash scripts/setup.sh example   # install, then stitch a generated example scan
#   bash scripts/setup.sh test      # install with test extras, then run the whole test suite
#
# Installs what is missing: FFTW (libfftw3-dev), pkg-config, a C++ compiler, Python headers and
# venv support through apt (as root, or with sudo); a virtual environment in .venv; the package.
set -euo pipefail

job="${1:-example}"
case "$job" in
    example | test) ;;
    *) echo "usage: bash scripts/setup.sh example|test" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists fftw3f 2>/dev/null || missing+=(libfftw3-dev)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
command -v "$python" >/dev/null 2>&1 || missing+=(python3)
if command -v "$python" >/dev/null 2>&1; then
    "$python" -c "import ensurepip, venv" 2>/dev/null || missing+=(python3-venv)
    include=$("$python" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
    [ -f "$include/Python.h" ] || missing+=(python3-dev)
fi
case "$(uname -m)" in
    # No pyvips-binary wheel for ARMv6 (Pi 1, Zero): use Debian's libvips.
    armv6l) ldconfig -p 2>/dev/null | grep -q libvips.so.42 || missing+=(libvips42) ;;
esac

if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        apt_get=(apt-get)
    elif command -v sudo >/dev/null 2>&1; then
        apt_get=(sudo apt-get)
    else
        echo "ofs-stitch setup: missing ${missing[*]}; install them with: apt-get install ${missing[*]}" >&2
        exit 1
    fi
    echo "installing ${missing[*]} with apt-get"
    "${apt_get[@]}" update -qq
    DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# The test extras include scikit-image, whose bundled images the example scan is cut from;
# the tests also cover the optional dask extra (chunked fusion, OME-Zarr) and open its
# output with the reference OME-Zarr reader (zarr-reader).
if [ "$job" = test ]; then
    .venv/bin/python -m pip install --quiet ".[test,dask,zarr-reader]"
else
    .venv/bin/python -m pip install --quiet ".[test]"
fi

if [ "$job" = example ]; then
    exec .venv/bin/python -m ofs_stitch.testing.example
fi

# The package lives in python/, so the installed copy (with its compiled core) is what the tests
# import. Benchmarks run once each in their short mode, still asserting their results
# (OFS_BENCH_FULL=1 and no --benchmark-disable for the full measurements).
# pytest exits 5 when it collected nothing: that is a failure here.
set +e
.venv/bin/python -m pytest -q --benchmark-disable tests benchmarks
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "ofs-stitch setup: no tests were collected" >&2
    exit 1
fi
exit "$status"
