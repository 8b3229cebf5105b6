# GortPackaging.cmake — Debian binary packages (CPack DEB) and the ABI tests.
#
#   cmake -S . -B build/pkg -DCMAKE_INSTALL_PREFIX=/usr -DGORT_BUILD_TESTS=OFF ...
#   cmake --build build/pkg && (cd build/pkg && cpack -G DEB)
#   (scripts/dist.sh does this from the source tarball; docs/packaging.md)
#
# Packages (one per install component of GortInstall.cmake):
#   libgort0     component runtime: <libdir>/libgort.so.0.X.Y + the libgort.so.0
#                link; DEBIAN/shlibs, DEBIAN/symbols (generated from the built
#                library and the version script by packaging/abi/gort-abi.py,
#                so every symbol carries the release of its version node),
#                ldconfig in postinst/postrm; stripped. Depends computed by
#                dpkg-shlibdeps (libc6, and libffi8 when libgort links libffi).
#   libgort-dev  component dev: headers, the libgort.so link, libgort.a,
#                gort.pc, the CMake package; Depends: libgort0 (= version),
#                plus libffi-dev when built with GORT_WITH_FFI (gort.pc's
#                Requires.private and the static library need it).
#
# The source tarball is `git archive` (scripts/dist.sh), not CPack: it holds
# exactly the committed files.
#
# Tests (with GORT_BUILD_TESTS): abi_symbols compares the library's exports
# with packaging/libgort.map and packaging/abi/libgort.<SOVERSION>.symbols;
# abi_checker proves that comparison fails on each kind of break.

set(GORT_ABI_TOOL ${PROJECT_SOURCE_DIR}/packaging/abi/gort-abi.py)
set(GORT_ABI_BASELINE ${PROJECT_SOURCE_DIR}/packaging/abi/libgort.${PROJECT_VERSION_MAJOR}.symbols)
set(GORT_DEB_RUNTIME_PACKAGE libgort${PROJECT_VERSION_MAJOR})
find_program(GORT_PYTHON3 python3)

if(GORT_BUILD_TESTS)
  if(NOT GORT_PYTHON3)
    message(FATAL_ERROR "gort: python3 is needed by the abi_symbols test (run 'make deps')")
  endif()
  find_program(GORT_BASH bash REQUIRED)
  add_test(NAME abi_symbols
    COMMAND ${CMAKE_COMMAND} -E env NM=${CMAKE_NM} OBJDUMP=${CMAKE_OBJDUMP}
            ${GORT_PYTHON3} ${GORT_ABI_TOOL} check --lib $<TARGET_FILE:gort>
            --map ${GORT_VERSION_SCRIPT} --baseline ${GORT_ABI_BASELINE})
  set_tests_properties(abi_symbols PROPERTIES TIMEOUT 60 LABELS abi)
  if(NOT CMAKE_CROSSCOMPILING)
    add_test(NAME abi_checker
      COMMAND ${CMAKE_COMMAND} -E env PYTHON=${GORT_PYTHON3}
              ${GORT_BASH} ${PROJECT_SOURCE_DIR}/packaging/abi/selftest.sh
              ${PROJECT_BINARY_DIR}/abi-selftest ${CMAKE_C_COMPILER})
    set_tests_properties(abi_checker PROPERTIES TIMEOUT 60 LABELS abi)
  endif()
endif()

# ---- CPack DEB -----------------------------------------------------------------
# The Debian symbols file: regenerated whenever the library is relinked.
set(GORT_DEB_CONTROL_DIR ${PROJECT_BINARY_DIR}/debian-control)
if(GORT_PYTHON3)
  add_custom_command(TARGET gort POST_BUILD
    COMMAND ${CMAKE_COMMAND} -E make_directory ${GORT_DEB_CONTROL_DIR}
    COMMAND ${CMAKE_COMMAND} -E env NM=${CMAKE_NM} OBJDUMP=${CMAKE_OBJDUMP}
            ${GORT_PYTHON3} ${GORT_ABI_TOOL} symbols --lib $<TARGET_FILE:gort>
            --map ${GORT_VERSION_SCRIPT} --package ${GORT_DEB_RUNTIME_PACKAGE}
            --dev-package libgort-dev -o ${GORT_DEB_CONTROL_DIR}/symbols
    COMMENT "Debian symbols file for ${GORT_DEB_RUNTIME_PACKAGE}"
    VERBATIM)
endif()

set(CPACK_PACKAGE_NAME gort)
set(CPACK_PACKAGE_VENDOR "gort")
set(CPACK_PACKAGE_CONTACT "gort maintainers <gort@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
# Each package's synopsis is the first line of its own description below.
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_OUTPUT_FILE_PREFIX ${PROJECT_BINARY_DIR}/packages)
set(CPACK_GENERATOR DEB)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)        # <name>_<version>-<release>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/gort/gort")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME ${GORT_DEB_RUNTIME_PACKAGE})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)   # dpkg-shlibdeps: libc6, libffi8, ...
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)     # DEBIAN/shlibs
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
# (CPack adds the postinst/postrm that run ldconfig along with shlibs.)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA ${GORT_DEB_CONTROL_DIR}/symbols)
# Stripped library (no -dbgsym package yet: docs/packaging.md).
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
    "Go's concurrency engine as a C library (shared library)
gort runs goroutines on an M:N scheduler, with channels, select, sync,
timers, a netpoller and a JavaScript-style event loop with promises.")

set(_gort_dev_depends "${GORT_DEB_RUNTIME_PACKAGE} (= ${PROJECT_VERSION}-${CPACK_DEBIAN_PACKAGE_RELEASE})")
if(GORT_WITH_FFI)
  string(APPEND _gort_dev_depends ", libffi-dev")
endif()
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libgort-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "${_gort_dev_depends}")
set(CPACK_DEBIAN_DEV_PACKAGE_SHLIBDEPS OFF)      # no ELF files of its own but libgort.a
set(CPACK_DEBIAN_DEV_DESCRIPTION
    "Go's concurrency engine as a C library (development files)
Headers, the static library, the pkg-config file (gort.pc) and the CMake
package (find_package(gort)) of gort.")

include(CPack)
