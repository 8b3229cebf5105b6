-- gort's Lua binding against an installed (or the repository's) libgort:
--   luarocks make GORT_INCDIR=<repo>/include GORT_LIBDIR=<repo>/build/release
-- (or GORT_DIR=<prefix> for an installed libgort). Needs swig and a C compiler.
rockspec_format = "3.0"
package = "gort"
version = "scm-1"
source = { url = "git+https://example.invalid/gort.git" }
description = {
  summary = "Go's concurrency model for Lua: goroutines, channels, select, parallel states",
  license = "MIT",
}
dependencies = { "lua >= 5.4, < 5.5" }
external_dependencies = {
  GORT = { header = "gort.h", library = "gort" },
}
build = {
  type = "command",
  build_command = [[swig -lua -nomoduleglobal -I$(GORT_INCDIR) -o gort_wrap.c gort.i && ]] ..
    [[$(CC) $(CFLAGS) -std=c11 -D_GNU_SOURCE -I$(LUA_INCDIR) -I$(GORT_INCDIR) -I. ]] ..
    [[-c gort_wrap.c -o gort_wrap.o -w && ]] ..
    [[$(CC) $(CFLAGS) -std=c11 -D_GNU_SOURCE -Wall -Wextra -I$(LUA_INCDIR) -I$(GORT_INCDIR) -I. ]] ..
    [[-c glue.c -o glue.o && ]] ..
    [[$(CC) $(LIBFLAG) -o core.so gort_wrap.o glue.o -L$(GORT_LIBDIR) -Wl,-rpath,$(GORT_LIBDIR) -Wl,-z,nodelete -lgort -lpthread]],
  install = {
    lua = { gort = "gort.lua" },
    lib = { ["gort.core"] = "core.so" },
  },
}
