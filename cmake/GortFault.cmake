# GortFault.cmake — the programs of the `fault` stage (scripts/fault-sweep.sh):
# tests/fault/fault_prog.c linked against the STATIC library with the
# allocation / mmap / thread / fd creators wrapped (-Wl,--wrap=...), so the
# injector (tests/fault/fault_inject.c) sees exactly libgort's calls, and the
# sweep driver tests/fault/fault_sweep.c. Not registered with CTest: the
# sweep runs hundreds of processes and has its own stage and time budget.
set(GORT_FAULT_WRAPPED malloc calloc realloc aligned_alloc posix_memalign mmap mprotect
    pthread_create eventfd epoll_create1 pipe pipe2)
list(TRANSFORM GORT_FAULT_WRAPPED PREPEND "LINKER:--wrap=" OUTPUT_VARIABLE _gort_fault_wrap)
add_executable(fault_prog ${PROJECT_SOURCE_DIR}/tests/fault/fault_prog.c
                          ${PROJECT_SOURCE_DIR}/tests/fault/fault_inject.c)
target_link_libraries(fault_prog PRIVATE gort_static ${CMAKE_DL_LIBS})
target_link_options(fault_prog PRIVATE ${_gort_fault_wrap})
add_executable(fault_sweep ${PROJECT_SOURCE_DIR}/tests/fault/fault_sweep.c)
set_target_properties(fault_prog fault_sweep PROPERTIES
  RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests/fault)
