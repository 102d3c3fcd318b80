# 32-bit ARM Linux, hard float (Raspberry Pi OS 32-bit on a Pi 2 or later, Debian armhf) with
# Debian's cross compiler g++-arm-linux-gnueabihf. Its defaults (ARMv7-A, VFPv3-D16, Thumb-2)
# are Debian armhf's baseline: no NEON is assumed in the core; FFTW probes for it at run time.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
