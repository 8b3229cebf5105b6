# GortFlags.cmake — compiler/linker flags applied to every target of the
# project (library, tests, examples, benchmarks), including sanitizers.
include(CheckCCompilerFlag)
include(CheckIncludeFile)

add_compile_definitions(_GNU_SOURCE)
add_compile_options(
  "$<$<COMPILE_LANGUAGE:C>:-Wall;-Wextra>"
  # .S files carry no .note.GNU-stack unless they say so; never ask for an
  # executable stack (binutils >= 2.39 warns about it).
  "$<$<COMPILE_LANGUAGE:ASM>:-Wa,--noexecstack>")
add_link_options("LINKER:-z,noexecstack")

if(GORT_WERROR)
  add_compile_options("$<$<COMPILE_LANGUAGE:C>:-Werror>")
endif()

if(GORT_SANITIZE STREQUAL "address")
  set(GORT_SANITIZE_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer
                          -fno-sanitize-recover=all)
elseif(GORT_SANITIZE STREQUAL "thread")
  set(GORT_SANITIZE_FLAGS -fsanitize=thread)
  # gcc warns that TSan does not model atomic_thread_fence; keep the warning
  # visible but do not let it fail a sanitizer build.
  check_c_compiler_flag(-Wtsan GORT_HAVE_WTSAN)
  if(GORT_HAVE_WTSAN)
    add_compile_options("$<$<COMPILE_LANGUAGE:C>:-Wno-error=tsan>")
  endif()
elseif(NOT GORT_SANITIZE STREQUAL "")
  message(FATAL_ERROR "GORT_SANITIZE must be empty, 'address' or 'thread' (got '${GORT_SANITIZE}')")
endif()
if(GORT_SANITIZE_FLAGS)
  add_compile_options(${GORT_SANITIZE_FLAGS})
  add_link_options(${GORT_SANITIZE_FLAGS})
endif()

# <valgrind/valgrind.h> (client requests: VALGRIND_STACK_REGISTER). The engine
# may also use __has_include; this defines GORT_HAVE_VALGRIND_H to 0 or 1.
check_include_file(valgrind/valgrind.h GORT_HAVE_VALGRIND_HEADER)
function(gort_valgrind_header target)
  if(GORT_HAVE_VALGRIND_HEADER)
    target_compile_definitions(${target} PRIVATE GORT_HAVE_VALGRIND_H=1)
  else()
    target_compile_definitions(${target} PRIVATE GORT_HAVE_VALGRIND_H=0)
  endif()
endfunction()
