/*
 * polyglot.c — one C host process, three languages, one gort engine:
 *
 *   C producer goroutine --c2l--> Lua goroutine (v*v) --l2p--> Python
 *   goroutine (+1) --p2c--> the C main thread, which checks every value.
 *
 * The channels are plain int64 gort_chans made here; Lua wraps them with
 * gort.wrap_chan, Python with gort.Chan.from_handle. The Lua state runs on
 * a thread of its own (its driver); Python goroutines run on the Python
 * binding's executor thread; the C goroutine on the engine's pool; the main
 * thread blocks in gort_chan_recv as a foreign thread. The Python package
 * links libgort.so.0 by SONAME, so the copy this host loaded serves all.
 *
 * Run: LUA_PATH/LUA_CPATH for the Lua module, PYTHONPATH for the Python
 * package (bindings/lua/tests/polyglot_spec.lua does this). Exit 0 and one
 * summary line when every stage saw what it should.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <gort.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>

#define N 2000

static gort_chan *c2l, *l2p, *p2c;
static int lua_failed;

static void producer(void *arg)
{
    (void)arg;
    for (int64_t i = 1; i <= N; i++)
        gort_chan_send(c2l, &i);
    gort_chan_close(c2l);
}

static const char lua_stage[] =
    "local gort = require 'gort'\n"
    "local inp, out = gort.wrap_chan(select(1, ...), 'int64'), gort.wrap_chan(select(2, ...), 'int64')\n"
    "local n = 0\n"
    "gort.run(function()\n"
    "  for v in inp:range() do\n"
    "    assert(math.type(v) == 'integer')\n"
    "    out:send(v * v); n = n + 1\n"
    "  end\n"
    "  out:close()\n"
    "end)\n"
    "return n\n";

static void *lua_thread(void *arg)
{
    (void)arg;
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    if (luaL_loadstring(L, lua_stage) != LUA_OK) {
        fprintf(stderr, "polyglot: lua: %s\n", lua_tostring(L, -1));
        lua_failed = 1;
    } else {
        lua_pushlightuserdata(L, c2l);
        lua_pushlightuserdata(L, l2p);
        if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
            fprintf(stderr, "polyglot: lua: %s\n", lua_tostring(L, -1));
            lua_failed = 1;
        } else if (lua_tointeger(L, -1) != N) {
            fprintf(stderr, "polyglot: lua stage saw %lld values\n", (long long)lua_tointeger(L, -1));
            lua_failed = 1;
        }
    }
    lua_close(L);
    return NULL;
}

int main(void)
{
    int rc = gort_init(NULL);
    if (rc != 0) {
        fprintf(stderr, "polyglot: gort_init: %s\n", gort_strerror(rc));
        return 1;
    }
    c2l = gort_chan_make(sizeof(int64_t), 16);
    l2p = gort_chan_make(sizeof(int64_t), 16);
    p2c = gort_chan_make(sizeof(int64_t), 16);
    if (!c2l || !l2p || !p2c || gort_go(producer, NULL) != 0)
        return 1;
    pthread_t lt;
    if (pthread_create(&lt, NULL, lua_thread, NULL) != 0)
        return 1;

    Py_Initialize();
    char code[1024];
    snprintf(code, sizeof code,
             "import gort\n"
             "inp = gort.Chan.from_handle(%" PRIuPTR ", 'int64_t')\n"
             "out = gort.Chan.from_handle(%" PRIuPTR ", 'int64_t')\n"
             "def stage():\n"
             "    for v in inp:\n"
             "        out.send(v + 1)\n"
             "    out.close()\n"
             "gort.go(stage)\n",
             (uintptr_t)l2p, (uintptr_t)p2c);
    if (PyRun_SimpleString(code) != 0)
        return 1;
    PyThreadState *ts = PyEval_SaveThread(); /* the executor thread runs Python now */

    int64_t v, got = 0, bad = 0;
    while (gort_chan_recv(p2c, &v) == 0) {
        got++;
        if (v != got * got + 1)
            bad++;
    }
    pthread_join(lt, NULL);
    PyEval_RestoreThread(ts);
    int fin = Py_FinalizeEx();
    printf("polyglot: %" PRId64 " values C -> Lua (v*v) -> Python (+1) -> C, %" PRId64
           " wrong, lua %s, python finalize %d\n",
           got, bad, lua_failed ? "FAILED" : "ok", fin);
    return got == N && bad == 0 && !lua_failed && fin == 0 ? 0 : 1;
}
