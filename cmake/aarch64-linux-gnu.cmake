# aarch64-linux-gnu.cmake — cross toolchain for 64-bit Arm Linux (Debian's
# gcc-aarch64-linux-gnu + libc6-dev-arm64-cross), tests run under qemu-user.
#
#   cmake -S . -B build/aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#   cmake --build build/aarch64 && (cd build/aarch64 && ctest)
#
# Executables are linked fully static (glibc supports that for pthread
# programs), so qemu needs no target sysroot at run time; the emulator still
# gets -L for anything dynamic (libgort.so itself is built too).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(GORT_CROSS_TRIPLE aarch64-linux-gnu CACHE STRING "cross toolchain prefix")
set(GORT_CROSS_SYSROOT /usr/${GORT_CROSS_TRIPLE} CACHE PATH "target libraries for qemu -L")

find_program(CMAKE_C_COMPILER NAMES ${GORT_CROSS_TRIPLE}-gcc ${GORT_CROSS_TRIPLE}-gcc-12 REQUIRED)
set(CMAKE_ASM_COMPILER ${CMAKE_C_COMPILER})

set(CMAKE_FIND_ROOT_PATH ${GORT_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# pkg-config must not report the host's libraries (libffi): look only in the
# target sysroot unless the caller points PKG_CONFIG_LIBDIR elsewhere. With
# no libffi there, GORT_WITH_FFI defaults to OFF.
if(NOT DEFINED ENV{PKG_CONFIG_LIBDIR})
  set(ENV{PKG_CONFIG_LIBDIR} "${GORT_CROSS_SYSROOT}/lib/pkgconfig:${GORT_CROSS_SYSROOT}/share/pkgconfig")
endif()

if(NOT DEFINED CMAKE_CROSSCOMPILING_EMULATOR)
  find_program(GORT_QEMU_AARCH64 qemu-aarch64)
  if(GORT_QEMU_AARCH64)
    set(CMAKE_CROSSCOMPILING_EMULATOR ${GORT_QEMU_AARCH64} -L ${GORT_CROSS_SYSROOT})
  endif()
endif()

# Link every executable statically against libgort.a.
set(GORT_STATIC_EXES ON CACHE BOOL "Link executables fully static against libgort.a")
