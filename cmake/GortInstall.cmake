# GortInstall.cmake — install rules, pkg-config file, CMake package.
#
# Installed layout (relative to the prefix):
#   include/gort.h, include/gort/*.h
#   <libdir>/libgort.so.0.1.0, libgort.so.0, libgort.so, libgort.a
#   <libdir>/pkgconfig/gort.pc            (relocatable: uses ${pcfiledir})
#   <libdir>/cmake/gort/gortConfig.cmake, gortConfigVersion.cmake, gortTargets*.cmake
include(CMakePackageConfigHelpers)

set(GORT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/gort)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        COMPONENT dev
        FILES_MATCHING PATTERN "*.h")

install(TARGETS gort gort_static
        EXPORT gortTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# pkg-config. The prefix is computed from the .pc file's own location, so an
# installed tree can be moved (or staged with DESTDIR / --prefix) and still
# work; absolute GNUInstallDirs paths fall back to absolute values.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(GORT_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(GORT_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(GORT_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  file(RELATIVE_PATH _gort_pc_up "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
  string(REGEX REPLACE "/$" "" _gort_pc_up "${_gort_pc_up}")
  set(GORT_PC_PREFIX "\${pcfiledir}/${_gort_pc_up}")
  set(GORT_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(GORT_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
# libgort.a needs libffi: `pkg-config --static --libs gort` adds it.
if(GORT_WITH_FFI)
  set(GORT_PC_REQUIRES_PRIVATE libffi)
else()
  set(GORT_PC_REQUIRES_PRIVATE "")
endif()
configure_file(${PROJECT_SOURCE_DIR}/packaging/gort.pc.in ${PROJECT_BINARY_DIR}/gort.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/gort.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

# CMake package: find_package(gort) -> gort::gort (shared), gort::gort_static.
install(EXPORT gortTargets
        NAMESPACE gort::
        DESTINATION ${GORT_CMAKE_DIR}
        COMPONENT dev)
configure_package_config_file(${PROJECT_SOURCE_DIR}/packaging/gortConfig.cmake.in
  ${PROJECT_BINARY_DIR}/gortConfig.cmake
  INSTALL_DESTINATION ${GORT_CMAKE_DIR})
# 0.x: a minor release may break the ABI, so only the same major.minor matches.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/gortConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/gortConfig.cmake ${PROJECT_BINARY_DIR}/gortConfigVersion.cmake
        DESTINATION ${GORT_CMAKE_DIR} COMPONENT dev)
