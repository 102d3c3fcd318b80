# FFTW single precision (fftwf_*) for the core, as the target FFTW::fftw3f.
#
# Where it comes from, in this order:
#   1. -DOFS_FFTW_PREFIX=DIR: a static, position-independent libfftw3f under DIR/lib, linked into
#      the extension. Wheel builds make one with scripts/build_fftw.sh, so a wheel carries FFTW
#      inside its one extension file and needs no libfftw3 on the user's machine.
#   2. pkg-config's fftw3f: the system's FFTW (libfftw3-dev, Homebrew's fftw, ...), linked as the
#      system links it. FFTW's own CMake config is broken in autotools installs (Debian's
#      included), so pkg-config it is.
#   3. With OFS_FFTW_BUILD on (the default): FFTW built from its source release by
#      scripts/build_fftw.sh into the build folder, then as in 1. This is how an sdist installs
#      where no FFTW is (piwheels' Raspberry Pi builders have no libfftw3-dev). It needs a shell,
#      make and a C compiler: Linux, macOS, or a Unix-like shell on Windows.
set(OFS_FFTW_PREFIX "" CACHE PATH "Prefix of a static, PIC libfftw3f to link into the extension")
option(OFS_FFTW_BUILD "Build FFTW from source when neither OFS_FFTW_PREFIX nor pkg-config gives one" ON)

set(_ofs_fftw_root "${CMAKE_CURRENT_LIST_DIR}/..")

function(_ofs_static_fftw prefix)
    find_library(OFS_FFTW3F_STATIC
        NAMES "${CMAKE_STATIC_LIBRARY_PREFIX}fftw3f${CMAKE_STATIC_LIBRARY_SUFFIX}"
        PATHS "${prefix}/lib" "${prefix}/lib64" NO_DEFAULT_PATH NO_CACHE)
    if(NOT OFS_FFTW3F_STATIC OR NOT EXISTS "${prefix}/include/fftw3.h")
        message(FATAL_ERROR "No static libfftw3f and fftw3.h under ${prefix} (OFS_FFTW_PREFIX): "
            "build one with 'bash scripts/build_fftw.sh --prefix ${prefix}'")
    endif()
    add_library(FFTW::fftw3f STATIC IMPORTED GLOBAL)
    set_target_properties(FFTW::fftw3f PROPERTIES
        IMPORTED_LOCATION "${OFS_FFTW3F_STATIC}"
        INTERFACE_INCLUDE_DIRECTORIES "${prefix}/include")
    if(UNIX)
        set_property(TARGET FFTW::fftw3f APPEND PROPERTY INTERFACE_LINK_LIBRARIES m)
    endif()
    if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
        # FFTW's symbols stay private to the extension: another library that loads its own
        # libfftw3f with global symbols cannot take over the calls the core makes.
        set_property(TARGET FFTW::fftw3f APPEND PROPERTY
            INTERFACE_LINK_OPTIONS "LINKER:--exclude-libs,ALL")
    endif()
    message(STATUS "FFTW: static ${OFS_FFTW3F_STATIC}")

    # FFTW is GPL-2.0-or-later: a wheel that contains it carries its licence and copyright.
    if(DEFINED SKBUILD_METADATA_DIR)
        file(GLOB _licences "${prefix}/share/licenses/fftw/*")
        if(NOT _licences)
            message(FATAL_ERROR "FFTW's COPYING is missing from ${prefix}/share/licenses/fftw "
                "(scripts/build_fftw.sh puts it there); a wheel must not ship FFTW without it")
        endif()
        install(FILES ${_licences} DESTINATION "${SKBUILD_METADATA_DIR}/licenses/fftw")
    endif()
endfunction()

if(OFS_FFTW_PREFIX)
    _ofs_static_fftw("${OFS_FFTW_PREFIX}")
    return()
endif()

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
    pkg_check_modules(FFTW3F QUIET IMPORTED_TARGET fftw3f)
endif()
if(FFTW3F_FOUND)
    add_library(FFTW::fftw3f INTERFACE IMPORTED GLOBAL)
    target_link_libraries(FFTW::fftw3f INTERFACE PkgConfig::FFTW3F)
    message(STATUS "FFTW: pkg-config fftw3f ${FFTW3F_VERSION} (${FFTW3F_LINK_LIBRARIES})")
    return()
endif()

if(NOT OFS_FFTW_BUILD)
    message(FATAL_ERROR "FFTW single precision not found: install libfftw3-dev and pkg-config "
        "(Debian, Ubuntu, Raspberry Pi OS) or fftw and pkg-config (Homebrew), or pass "
        "-DOFS_FFTW_PREFIX=DIR, or leave OFS_FFTW_BUILD on to build FFTW from source")
endif()
if(CMAKE_CROSSCOMPILING)
    message(FATAL_ERROR "FFTW not found for the target: build it with "
        "'bash scripts/build_fftw.sh --host TRIPLE --prefix DIR' and pass -DOFS_FFTW_PREFIX=DIR")
endif()
find_program(OFS_BASH bash)
if(NOT OFS_BASH)
    message(FATAL_ERROR "FFTW not found, and building it from source needs bash, make and a C "
        "compiler; install FFTW (with pkg-config) or pass -DOFS_FFTW_PREFIX=DIR")
endif()
set(_ofs_fftw_built "${CMAKE_BINARY_DIR}/fftw")
message(STATUS "FFTW: not found; building it from source into ${_ofs_fftw_built} (a few minutes)")
execute_process(
    COMMAND "${OFS_BASH}" "${_ofs_fftw_root}/scripts/build_fftw.sh" --prefix "${_ofs_fftw_built}"
    RESULT_VARIABLE _ofs_fftw_result)
if(NOT _ofs_fftw_result EQUAL 0)
    message(FATAL_ERROR "Building FFTW from source failed (see above); install libfftw3-dev "
        "and pkg-config instead, or pass -DOFS_FFTW_PREFIX=DIR")
endif()
_ofs_static_fftw("${_ofs_fftw_built}")
