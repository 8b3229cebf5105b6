/*
 * testhelper.c — module gort_testhelper for the Lua binding's tests: C
 * threads (not goroutines) that use a shared int64 channel handed over
 * from Lua as a gort_chan * (ch:handle()).
 *   send_ints(handle, n, nthreads): nthreads pthreads each send 1..n, then
 *   the last one to finish closes the channel. Returns at once.
 */
#include <gort.h>
#include <lauxlib.h>
#include <lua.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct sender {
    gort_chan *ch;         /* retained by the group */
    int64_t n;             /* values per thread */
    atomic_int *remaining; /* threads still sending; the last closes and frees */
} sender;

static void *send_thread(void *arg)
{
    sender *s = arg;
    for (int64_t i = 1; i <= s->n; i++)
        if (gort_chan_send(s->ch, &i) != 0)
            break;
    if (atomic_fetch_sub(s->remaining, 1) == 1) {
        gort_chan_close(s->ch);
        gort_chan_release(s->ch);
        free(s->remaining);
    }
    free(s);
    return NULL;
}

static int send_ints(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TLIGHTUSERDATA);
    gort_chan *ch = lua_touserdata(L, 1);
    int64_t n = (int64_t)luaL_checkinteger(L, 2);
    int threads = (int)luaL_optinteger(L, 3, 1);
    atomic_int *remaining = malloc(sizeof *remaining);
    if (!remaining || threads < 1)
        return luaL_error(L, "send_ints: bad thread count or out of memory");
    atomic_init(remaining, threads);
    gort_chan_retain(ch);
    for (int t = 0; t < threads; t++) {
        sender *s = malloc(sizeof *s);
        pthread_t th;
        if (!s)
            return luaL_error(L, "send_ints: out of memory");
        *s = (sender){ ch, n, remaining };
        if (pthread_create(&th, NULL, send_thread, s) != 0)
            return luaL_error(L, "send_ints: pthread_create failed");
        pthread_detach(th);
    }
    return 0;
}

int luaopen_gort_testhelper(lua_State *L)
{
    lua_newtable(L);
    lua_pushcfunction(L, send_ints);
    lua_setfield(L, -2, "send_ints");
    return 1;
}
