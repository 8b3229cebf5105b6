# GortTests.cmake — CTest registration.
#
# Every tests/test_*.c is one executable (built with tests/harness.h, which
# runs each case in its own process with its own timeout) linked against the
# STATIC library, so white-box tests can call internal gort__* functions that
# libgort.so hides. tests/test_abi.c is the exception: it links the shared
# library, as a program using the installed package would.
#
# Labels: unit (all test_* executables), abi, install.
file(GLOB GORT_TEST_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/test_*.c)

math(EXPR _gort_budget "${GORT_TEST_TIMEOUT} - 10")
if(_gort_budget LESS 5)
  set(_gort_budget 5)
endif()

foreach(_src IN LISTS GORT_TEST_SOURCES)
  get_filename_component(_name ${_src} NAME_WE)
  add_executable(${_name} ${_src})
  set_target_properties(${_name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  # White-box tests #include "internal.h" etc.: quoted includes only, so that
  # src/sched.h cannot shadow <sched.h>.
  target_compile_options(${_name} PRIVATE
    "SHELL:-iquote ${PROJECT_SOURCE_DIR}/tests" "SHELL:-iquote ${PROJECT_SOURCE_DIR}/src")
  gort_valgrind_header(${_name})
  # test_ffi checks the libffi path, or GORT_ENOSYS in a GORT_WITH_FFI=OFF build.
  if(GORT_WITH_FFI)
    target_compile_definitions(${_name} PRIVATE GORT_TEST_WITH_FFI=1)
  endif()
  if(_name STREQUAL "test_abi")
    target_link_libraries(${_name} PRIVATE ${GORT_EXE_LIB})
    if(GORT_STATIC_EXES)
      target_compile_definitions(${_name} PRIVATE GORT_TEST_ABI_STATIC=1)
    endif()
    set(_labels "unit;abi")
  else()
    target_link_libraries(${_name} PRIVATE gort_static)
    set(_labels "unit")
  endif()
  add_test(NAME ${_name} COMMAND ${_name})
  # The harness stops itself (killing the running case's process group and
  # reporting) a little before CTest would SIGKILL it.
  set_tests_properties(${_name} PROPERTIES
    TIMEOUT ${GORT_TEST_TIMEOUT}
    LABELS "${_labels}"
    ENVIRONMENT "GORT_TEST_BUDGET=${_gort_budget}")
endforeach()

# Only gort_* may leave libgort.so (not gort__* internals, not libc or
# compiler-runtime symbols).
add_test(NAME abi_exports
  COMMAND ${CMAKE_COMMAND} -DNM=${CMAKE_NM} -DLIB=$<TARGET_FILE:gort>
          -P ${PROJECT_SOURCE_DIR}/cmake/CheckExports.cmake)
set_tests_properties(abi_exports PROPERTIES TIMEOUT 60 LABELS abi)

# Install into a scratch prefix and build + run two consumers against it
# (pkg-config and find_package). Meaningless for cross or sanitizer builds.
if(NOT CMAKE_CROSSCOMPILING AND GORT_SANITIZE STREQUAL "" AND NOT GORT_STATIC_EXES)
  find_program(GORT_BASH bash REQUIRED)
  add_test(NAME install_consumers
    COMMAND ${GORT_BASH} ${PROJECT_SOURCE_DIR}/packaging/tests/run-consumers.sh
            --build-dir ${PROJECT_BINARY_DIR}
            --work-dir ${PROJECT_BINARY_DIR}/install-consumers
            --source-dir ${PROJECT_SOURCE_DIR}
            --cmake ${CMAKE_COMMAND}
            --cc ${CMAKE_C_COMPILER}
            --config $<CONFIG>)
  set_tests_properties(install_consumers PROPERTIES TIMEOUT ${GORT_TEST_TIMEOUT} LABELS install)
endif()

# Allocation-failure injection programs (the `fault` stage).
if(NOT GORT_STATIC_EXES)
  include(GortFault)
endif()
