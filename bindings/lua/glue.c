/*
 * glue.c — the C half of gort's Lua binding (module gort.core; the Lua half
 * is gort.lua).
 *
 * Concepts
 *   - One scheduler per lua_State (struct sched, a userdata in the state's
 *     registry): a gort loop (the state's serial executor) plus the count of
 *     external waits in flight. Lua goroutines are coroutines of the state;
 *     gort.lua keeps their run queue and resumes them from its driver, which
 *     runs on the thread that drives the state (the main chunk's thread, or
 *     a gort.state's own thread). Between runs the driver calls
 *     gortlua_run_once, one iteration of the loop: due timers and completed
 *     external waits run there as loop tasks and call the Lua wake function
 *     (registered by gortlua_setup) with the wait's token, which makes the
 *     waiting goroutine runnable again.
 *   - Parking. A goroutine that must wait calls gortlua_park, which yields
 *     (lua_yieldk with a continuation, so pcall/xpcall frames in between
 *     are fine) a sentinel to the driver; the values the driver resumes it
 *     with become park's results. Where Lua cannot yield (a metamethod or
 *     require without continuation) park raises a clear error instead.
 *   - Shared channels (struct schan): a gort_chan of 8-byte elements that C,
 *     other Lua states and other languages can use. Kinds: int64, double,
 *     string (a malloc'd NUL-terminated char * travels; the receiver frees
 *     it) and value (a malloc'd struct blob: a copied Lua value). An schan
 *     is refcounted separately from its gort_chan: the last reference of
 *     one made here drains and frees pointer messages still buffered.
 *   - External waits (struct extwait). A blocking operation on shared
 *     channels that cannot complete at once runs gort_select on a pool
 *     goroutine, with one extra receive case on the scheduler's cancel
 *     channel; the goroutine posts the finished wait to the state's loop,
 *     where the result is converted to Lua values and handed to the wake
 *     function. While a wait is in flight the loop is referenced, so the
 *     driver never reports a deadlock while C or another state may still
 *     answer.
 *   - Copying between states (blob): nil, booleans, integers, floats,
 *     strings, shared channels and tables of these (no metatables, depth
 *     <= 64, which also rejects cycles); anything else raises an error that
 *     names the type.
 *   - gort.state: a detached pthread with a fresh lua_State (the caller's
 *     package.path/cpath) runs the chunk as that state's gort.run main
 *     goroutine and sends a copy of {ok, results...} to a value channel.
 *
 * Invariants
 *   - A lua_State is only touched by the thread that drives it; loop tasks
 *     run inside gortlua_run_once on that thread and never let a Lua error
 *     longjmp through the loop (every Lua call there is protected).
 *   - Every extwait completes exactly once (the cancel channel guarantees it
 *     at teardown) and is freed on the loop thread; the loop is freed only
 *     when none is in flight.
 *
 * Locks: none of its own. sched fields are used by the driving thread only;
 * schan.refs is atomic (acq_rel on the decrement that may free).
 *
 * Rejected alternatives: one C goroutine per Lua goroutine (a C stack per
 * coroutine; Lua coroutines are already stackless); a scheduler in C (the
 * run queue in Lua costs nothing a Lua user would notice and keeps waiters
 * collectable: a goroutine parked on an unreachable in-state channel is
 * referenced only by that channel); blocking the driver thread in C on
 * shared channels (other goroutines of the state would stop).
 */
#include "glue.h"

#include <gort.h>
#include <lauxlib.h>
#include <lualib.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHED_MT   "gort.sched"
#define SCHAN_MT   "gort.schan"
#define COPY_DEPTH 64
#define TEARDOWN_SLICE_NS (10 * GORT_MILLISECOND)
#define BLOCK_SLICE_NS    (50 * GORT_MILLISECOND)

enum { K_INT64 = 1, K_DOUBLE, K_STRING, K_VALUE };
static const char *const kind_names[] = { "int64", "double", "string", "value", NULL };

static char wake_key;   /* registry: the Lua wake function */
static char park_key;   /* its address is the park sentinel */

/* ---- scheduler ------------------------------------------------------------- */

typedef struct sched {
    lua_State *L;       /* the state's main thread */
    gort_loop *loop;    /* the state's serial executor */
    gort_chan *cancel;  /* closed at teardown: ends every external wait */
    int outstanding;    /* external waits in flight */
    int closing;        /* teardown began: completions no longer call Lua */
} sched;

static _Thread_local sched *driving; /* the scheduler this thread's loop serves */

static sched *get_sched(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, SCHED_MT ".instance");
    sched *s = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (!s)
        luaL_error(L, "gort: gort.core is not set up in this state");
    return s;
}

/* Run one loop iteration with this thread driving s. */
static int drive_once(sched *s, int64_t deadline)
{
    sched *prev = driving;
    driving = s;
    int rc = gort_loop_run_once(s->loop, deadline);
    driving = prev;
    return rc;
}

static int sched_gc(lua_State *L)
{
    sched *s = luaL_checkudata(L, 1, SCHED_MT);
    if (!s->loop)
        return 0;
    s->closing = 1;
    gort_chan_close(s->cancel);
    while (s->outstanding > 0)
        drive_once(s, gort_now() + TEARDOWN_SLICE_NS);
    gort_loop_free(s->loop);
    gort_chan_release(s->cancel);
    s->loop = NULL;
    return 0;
}

/* Call wake(token, <nargs values on top>) protected; report its errors. */
static void call_wake(lua_State *L, int nargs)
{
    if (lua_pcall(L, nargs, 0, 0) != LUA_OK) {
        fprintf(stderr, "gort: wake-up failed: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
}

int gortlua_setup(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_getfield(L, LUA_REGISTRYINDEX, SCHED_MT ".instance");
    int have = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (have)
        return luaL_error(L, "gort: gort.core is already set up in this state");
    int rc = gort_init(NULL);
    if (rc != 0 && rc != GORT_EALREADY)
        return luaL_error(L, "gort: engine start failed: %s", gort_strerror(rc));
    sched *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    if (luaL_newmetatable(L, SCHED_MT)) {
        lua_pushcfunction(L, sched_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    s->cancel = gort_chan_make(1, 0);
    s->loop = s->cancel ? gort_loop_new() : NULL;
    if (!s->loop) {
        if (s->cancel)
            gort_chan_release(s->cancel);
        return luaL_error(L, "gort: out of memory");
    }
    lua_pushthread(L);
    s->L = lua_tothread(L, -1); /* the main thread: setup runs from require */
    lua_pop(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    s->L = lua_tothread(L, -1);
    lua_pop(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, SCHED_MT ".instance");
    lua_pushvalue(L, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &wake_key);
    return 0;
}

/* (block): one loop iteration, waiting for work at most BLOCK_SLICE_NS if
 * block (a microtask that the iteration's first turn ran does not count as
 * work done, so an unbounded wait could sleep past it: the driver polls
 * without waiting first and bounds each wait). -> whether work is pending. */
int gortlua_run_once(lua_State *L)
{
    sched *s = get_sched(L);
    int rc = drive_once(s, lua_toboolean(L, 1) ? gort_now() + BLOCK_SLICE_NS : GORT_NOWAIT);
    if (rc < 0)
        return luaL_error(L, "gort: loop: %s", gort_strerror(rc));
    lua_pushboolean(L, rc > 0);
    return 1;
}

int gortlua_outstanding(lua_State *L)
{
    lua_pushinteger(L, get_sched(L)->outstanding);
    return 1;
}

/* ---- timers ----------------------------------------------------------------- */

static void timer_task(void *arg)
{
    sched *s = driving;
    if (!s || s->closing)
        return;
    lua_State *L = s->L;
    if (!lua_checkstack(L, 3))
        return;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &wake_key);
    lua_pushinteger(L, (lua_Integer)(intptr_t)arg);
    call_wake(L, 1);
}

static int64_t seconds_to_ns(lua_State *L, int idx)
{
    lua_Number sec = luaL_checknumber(L, idx);
    if (!(sec >= 0))
        return 0;
    if (sec > 9.2e9)
        return INT64_MAX / 2;
    return (int64_t)(sec * 1e9);
}

int gortlua_timer(lua_State *L)
{
    sched *s = get_sched(L);
    int64_t ns = seconds_to_ns(L, 1);
    lua_Integer token = luaL_checkinteger(L, 2);
    int64_t id = gort_loop_set_timeout(s->loop, ns, timer_task, (void *)(intptr_t)token);
    if (id < 0)
        return luaL_error(L, "gort: timer: %s", gort_strerror((int)id));
    lua_pushinteger(L, (lua_Integer)id);
    return 1;
}

int gortlua_timer_cancel(lua_State *L)
{
    gort_loop_clear_timer(get_sched(L)->loop, (int64_t)luaL_checkinteger(L, 1));
    return 0;
}

/* ---- parking ------------------------------------------------------------------ */

static int park_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    (void)ctx;
    return lua_gettop(L); /* the values the driver resumed us with */
}

int gortlua_park(lua_State *L)
{
    if (!lua_isyieldable(L))
        return luaL_error(L, "gort: cannot block here: Lua cannot yield across this C call "
                             "(a metamethod, require, table.sort comparator, or a C function "
                             "without continuation); move the blocking call into a goroutine body");
    lua_settop(L, 0);
    lua_pushlightuserdata(L, &park_key);
    return lua_yieldk(L, 1, 0, park_k);
}

int gortlua_park_sentinel(lua_State *L)
{
    lua_pushlightuserdata(L, &park_key);
    return 1;
}

/* ---- copied values (blob) ---------------------------------------------------- */

typedef struct schan schan;
static void schan_unref(schan *c);
static schan *schan_ref(schan *c);
static void push_schan(lua_State *L, schan *c); /* takes a reference */

typedef struct blob {
    size_t len;      /* bytes of data */
    size_t nch;      /* channels referenced (one reference each) */
    schan **chans;   /* nch entries, inside this allocation */
    unsigned char *data; /* the tagged encoding, inside this allocation */
} blob;

typedef struct wbuf {
    unsigned char *p; /* bytes written */
    size_t len, cap;  /* used, allocated */
    schan **ch;       /* channels met (referenced) */
    size_t nch, chcap;
} wbuf;

static int wput(wbuf *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
    return 0;
}

static _Thread_local char enc_err[160]; /* the message of a refused type */

static const char *enc(lua_State *L, int idx, wbuf *b, int depth);

static const char *enc_table(lua_State *L, int idx, wbuf *b, int depth)
{
    if (depth >= COPY_DEPTH)
        return "table nested too deeply (or cyclic)";
    if (!lua_checkstack(L, 3))
        return "out of Lua stack";
    if (lua_getmetatable(L, idx)) {
        lua_pop(L, 1);
        return "a table with a metatable cannot be copied (an in-state gort.chan is one: "
               "use gort.chan(cap, \"value\") between states)";
    }
    if (wput(b, "T", 1))
        return "out of memory";
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int top = lua_gettop(L);
        const char *err = enc(L, top - 1, b, depth + 1);
        if (!err)
            err = enc(L, top, b, depth + 1);
        if (err) {
            lua_pop(L, 2);
            return err;
        }
        lua_pop(L, 1);
    }
    return wput(b, "e", 1) ? "out of memory" : NULL;
}

static const char *enc(lua_State *L, int idx, wbuf *b, int depth)
{
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return wput(b, "n", 1) ? "out of memory" : NULL;
    case LUA_TBOOLEAN:
        return wput(b, lua_toboolean(L, idx) ? "t" : "f", 1) ? "out of memory" : NULL;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            lua_Integer i = lua_tointeger(L, idx);
            return (wput(b, "i", 1) || wput(b, &i, sizeof i)) ? "out of memory" : NULL;
        } else {
            lua_Number d = lua_tonumber(L, idx);
            return (wput(b, "d", 1) || wput(b, &d, sizeof d)) ? "out of memory" : NULL;
        }
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        return (wput(b, "s", 1) || wput(b, &n, sizeof n) || wput(b, s, n)) ? "out of memory" : NULL;
    }
    case LUA_TTABLE:
        return enc_table(L, idx, b, depth);
    case LUA_TUSERDATA: {
        schan **ud = luaL_testudata(L, idx, SCHAN_MT);
        if (ud) {
            if (b->nch == b->chcap) {
                size_t cap = b->chcap ? b->chcap * 2 : 4;
                schan **p = realloc(b->ch, cap * sizeof *p);
                if (!p)
                    return "out of memory";
                b->ch = p;
                b->chcap = cap;
            }
            size_t at = b->nch;
            if (wput(b, "c", 1) || wput(b, &at, sizeof at))
                return "out of memory";
            b->ch[b->nch++] = schan_ref(*ud);
            return NULL;
        }
        break;
    }
    default:
        break;
    }
    snprintf(enc_err, sizeof enc_err, "a %s cannot be copied (only nil, booleans, numbers, "
             "strings, shared channels and tables of these)", luaL_typename(L, idx));
    return enc_err;
}

static void wbuf_drop(wbuf *b)
{
    for (size_t i = 0; i < b->nch; i++)
        schan_unref(b->ch[i]);
    free(b->ch);
    free(b->p);
}

static void blob_free(blob *bl)
{
    if (!bl)
        return;
    for (size_t i = 0; i < bl->nch; i++)
        schan_unref(bl->chans[i]);
    free(bl);
}

/* Copy the value at idx into a new blob, or raise a clear error. */
static blob *to_blob(lua_State *L, int idx)
{
    wbuf b = { 0 };
    const char *err = enc(L, idx, &b, 0);
    blob *bl = NULL;
    if (!err) {
        bl = malloc(sizeof *bl + b.nch * sizeof(schan *) + b.len);
        if (!bl)
            err = "out of memory";
    }
    if (err) {
        wbuf_drop(&b);
        luaL_error(L, "gort: cannot copy a value between states: %s", err);
    }
    bl->len = b.len;
    bl->nch = b.nch;
    bl->chans = (schan **)(bl + 1);
    bl->data = (unsigned char *)(bl->chans + b.nch);
    if (b.nch)
        memcpy(bl->chans, b.ch, b.nch * sizeof(schan *));
    memcpy(bl->data, b.p, b.len);
    free(b.ch);
    free(b.p);
    return bl;
}

static size_t dec_fixed(const blob *bl, size_t pos, void *out, size_t n)
{
    memcpy(out, bl->data + pos, n);
    return pos + n;
}

/* Push the value at pos; returns the position after it. Channels get a
 * reference of their own (the blob's go with it). */
static size_t dec(lua_State *L, const blob *bl, size_t pos)
{
    luaL_checkstack(L, 3, "gort: copied value nested too deeply");
    char tag = (char)bl->data[pos++];
    switch (tag) {
    case 'n': lua_pushnil(L); return pos;
    case 't': lua_pushboolean(L, 1); return pos;
    case 'f': lua_pushboolean(L, 0); return pos;
    case 'i': { lua_Integer i; pos = dec_fixed(bl, pos, &i, sizeof i); lua_pushinteger(L, i); return pos; }
    case 'd': { lua_Number d; pos = dec_fixed(bl, pos, &d, sizeof d); lua_pushnumber(L, d); return pos; }
    case 's': {
        size_t n;
        pos = dec_fixed(bl, pos, &n, sizeof n);
        lua_pushlstring(L, (const char *)bl->data + pos, n);
        return pos + n;
    }
    case 'c': {
        size_t at;
        pos = dec_fixed(bl, pos, &at, sizeof at);
        push_schan(L, schan_ref(bl->chans[at]));
        return pos;
    }
    case 'T':
        lua_newtable(L);
        while (bl->data[pos] != 'e') {
            pos = dec(L, bl, pos);
            pos = dec(L, bl, pos);
            lua_rawset(L, -3);
        }
        return pos + 1;
    default:
        luaL_error(L, "gort: corrupt copied value");
        return pos;
    }
}

/* Push the blob's value and free the blob (also if pushing raises). */
static int push_blob_k(lua_State *L)
{
    blob *bl = lua_touserdata(L, 1);
    dec(L, bl, 0);
    return 1;
}

static void push_blob(lua_State *L, blob *bl)
{
    lua_pushcfunction(L, push_blob_k);
    lua_pushlightuserdata(L, bl);
    int rc = lua_pcall(L, 1, 1, 0);
    blob_free(bl);
    if (rc != LUA_OK)
        lua_error(L);
}

/* ---- shared channels --------------------------------------------------------- */

struct schan {
    _Atomic long refs; /* Lua objects, blobs and waits holding it */
    gort_chan *ch;     /* 8-byte elements */
    int kind;          /* K_* */
    int drain;         /* made here: free pointer messages left at the last unref */
};

static schan *schan_ref(schan *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

static void free_msg(int kind, void *p)
{
    if (kind == K_STRING)
        free(p);
    else if (kind == K_VALUE)
        blob_free(p);
}

static void schan_unref(schan *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (c->drain && (c->kind == K_STRING || c->kind == K_VALUE)) {
        void *p;
        while (gort_chan_try_recv(c->ch, &p) == 0)
            free_msg(c->kind, p);
    }
    gort_chan_release(c->ch);
    free(c);
}

static int schan_gc(lua_State *L)
{
    schan **ud = luaL_checkudata(L, 1, SCHAN_MT);
    if (*ud)
        schan_unref(*ud);
    *ud = NULL;
    return 0;
}

static schan *check_schan(lua_State *L, int idx)
{
    schan **ud = luaL_checkudata(L, idx, SCHAN_MT);
    if (!*ud)
        luaL_error(L, "gort: channel already released");
    return *ud;
}

/* Convert the Lua value at idx to a message of c's kind (raises on a bad one). */
static uint64_t to_msg(lua_State *L, schan *c, int idx)
{
    uint64_t m = 0;
    switch (c->kind) {
    case K_INT64: {
        int isnum;
        lua_Integer i = lua_tointegerx(L, idx, &isnum);
        if (!isnum)
            luaL_error(L, "gort: an int64 channel carries integers, got %s", luaL_typename(L, idx));
        int64_t v = (int64_t)i;
        memcpy(&m, &v, sizeof v);
        break;
    }
    case K_DOUBLE: {
        int isnum;
        double d = (double)lua_tonumberx(L, idx, &isnum);
        if (!isnum)
            luaL_error(L, "gort: a double channel carries numbers, got %s", luaL_typename(L, idx));
        memcpy(&m, &d, sizeof d);
        break;
    }
    case K_STRING: {
        size_t n;
        if (lua_type(L, idx) != LUA_TSTRING && lua_type(L, idx) != LUA_TNUMBER)
            luaL_error(L, "gort: a string channel carries strings, got %s", luaL_typename(L, idx));
        const char *s = lua_tolstring(L, idx, &n);
        if (memchr(s, 0, n))
            luaL_error(L, "gort: a string channel carries C strings (no embedded NUL)");
        char *p = malloc(n + 1);
        if (!p)
            luaL_error(L, "gort: out of memory");
        memcpy(p, s, n + 1);
        m = (uint64_t)(uintptr_t)p;
        break;
    }
    default: {
        blob *bl = to_blob(L, idx);
        m = (uint64_t)(uintptr_t)bl;
        break;
    }
    }
    return m;
}

/* Push a received message (taking ownership of pointer messages). */
static void push_msg(lua_State *L, int kind, uint64_t m)
{
    switch (kind) {
    case K_INT64: { int64_t v; memcpy(&v, &m, sizeof v); lua_pushinteger(L, (lua_Integer)v); break; }
    case K_DOUBLE: { double d; memcpy(&d, &m, sizeof d); lua_pushnumber(L, (lua_Number)d); break; }
    case K_STRING: {
        char *p = (char *)(uintptr_t)m;
        lua_pushstring(L, p); /* may raise at ENOMEM: the string then leaks */
        free(p);
        break;
    }
    default:
        push_blob(L, (blob *)(uintptr_t)m);
        break;
    }
}

static int sch_try_send(lua_State *L)
{
    schan *c = check_schan(L, 1);
    luaL_checkany(L, 2);
    uint64_t m = to_msg(L, c, 2);
    int rc = gort_chan_try_send(c->ch, &m);
    if (rc != 0)
        free_msg(c->kind, (void *)(uintptr_t)m);
    lua_pushinteger(L, rc);
    return 1;
}

static int sch_try_recv(lua_State *L)
{
    schan *c = check_schan(L, 1);
    uint64_t m = 0;
    int rc = gort_chan_try_recv(c->ch, &m);
    lua_pushinteger(L, rc);
    if (rc != 0)
        return 1;
    push_msg(L, c->kind, m);
    return 2;
}

static int sch_close(lua_State *L)
{
    lua_pushinteger(L, gort_chan_close(check_schan(L, 1)->ch));
    return 1;
}

static int sch_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)gort_chan_len(check_schan(L, 1)->ch));
    return 1;
}

static int sch_cap(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)gort_chan_cap(check_schan(L, 1)->ch));
    return 1;
}

static int sch_kind(lua_State *L)
{
    lua_pushstring(L, kind_names[check_schan(L, 1)->kind - 1]);
    return 1;
}

static int sch_handle(lua_State *L)
{
    lua_pushlightuserdata(L, check_schan(L, 1)->ch);
    return 1;
}

static int sch_eq(lua_State *L)
{
    schan **a = luaL_testudata(L, 1, SCHAN_MT), **b = luaL_testudata(L, 2, SCHAN_MT);
    lua_pushboolean(L, a && b && *a && *b && (*a)->ch == (*b)->ch);
    return 1;
}

/* The metatable's __index is filled by gort.lua (methods in Lua over these). */
static void push_schan(lua_State *L, schan *c)
{
    schan **ud = lua_newuserdatauv(L, sizeof *ud, 0);
    *ud = c;
    if (luaL_newmetatable(L, SCHAN_MT)) {
        static const luaL_Reg prims[] = {
            { "try_send_raw", sch_try_send }, { "try_recv_raw", sch_try_recv },
            { "close_raw", sch_close },       { "len", sch_len },
            { "cap", sch_cap },               { "kind", sch_kind },
            { "handle", sch_handle },         { NULL, NULL },
        };
        lua_newtable(L);
        luaL_setfuncs(L, prims, 0);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, schan_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, sch_len);
        lua_setfield(L, -2, "__len");
        lua_pushcfunction(L, sch_eq);
        lua_setfield(L, -2, "__eq");
    }
    lua_setmetatable(L, -2);
}

static schan *schan_alloc(lua_State *L, gort_chan *ch, int kind, int drain)
{
    schan *c = malloc(sizeof *c);
    if (!c) {
        if (drain)
            gort_chan_release(ch);
        luaL_error(L, "gort: out of memory");
    }
    atomic_init(&c->refs, 1);
    c->ch = ch;
    c->kind = kind;
    c->drain = drain;
    return c;
}

int gortlua_schan_new(lua_State *L)
{
    lua_Integer cap = luaL_checkinteger(L, 1);
    int kind = luaL_checkoption(L, 2, NULL, kind_names) + 1;
    if (cap < 0)
        return luaL_error(L, "gort: channel capacity must be >= 0");
    gort_chan *ch = gort_chan_make(sizeof(uint64_t), (size_t)cap);
    if (!ch)
        return luaL_error(L, "gort: out of memory");
    push_schan(L, schan_alloc(L, ch, kind, 1));
    return 1;
}

int gortlua_schan_wrap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TLIGHTUSERDATA);
    gort_chan *ch = lua_touserdata(L, 1);
    int kind = luaL_checkoption(L, 2, NULL, kind_names) + 1;
    if (kind == K_VALUE)
        return luaL_argerror(L, 2, "a channel made by C carries int64, double or string");
    /* The C side keeps its own reference; this one is ours. */
    gort_chan *mine = gort_chan_retain(ch);
    push_schan(L, schan_alloc(L, mine, kind, 0));
    return 1;
}

/* ---- external waits ---------------------------------------------------------- */

typedef struct extwait {
    sched *s;           /* whose loop gets the completion */
    lua_Integer token;  /* handed to the wake function */
    int64_t deadline;   /* absolute, or GORT_FOREVER */
    size_t n;           /* user cases; cases[n] is the cancel case */
    int fired;          /* gort_select's result */
    schan **chans;      /* n, referenced */
    uint64_t *msgs;     /* n: message to send / received */
    gort_case cases[];  /* n + 1 */
} extwait;

static void ext_free(extwait *w)
{
    for (size_t i = 0; i < w->n; i++) {
        int consumed = (int)i == w->fired && w->cases[i].result == 0;
        /* an unsent pointer message, or a received one never delivered */
        if (w->cases[i].dir == GORT_SEND ? !consumed : consumed)
            free_msg(w->chans[i]->kind, (void *)(uintptr_t)w->msgs[i]);
        schan_unref(w->chans[i]);
    }
    free(w);
}

static int ext_deliver(lua_State *L)
{
    extwait *w = lua_touserdata(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &wake_key);
    lua_pushinteger(L, w->token);
    int nargs = 3;
    if (w->fired == GORT_ETIMEDOUT) {
        lua_pushnil(L);
        lua_pushliteral(L, "timeout");
    } else {
        size_t i = (size_t)w->fired;
        lua_pushinteger(L, (lua_Integer)i + 1);
        int ok = w->cases[i].result == 0;
        if (w->cases[i].dir == GORT_RECV && ok) {
            uint64_t m = w->msgs[i];
            w->msgs[i] = 0;
            w->cases[i].result = GORT_ECLOSED; /* ownership moved: ext_free must not free it */
            push_msg(L, w->chans[i]->kind, m);
        } else {
            lua_pushnil(L);
        }
        lua_pushboolean(L, ok);
        nargs = 4;
    }
    lua_call(L, nargs, 0);
    return 0;
}

static void ext_done(void *arg)
{
    extwait *w = arg;
    sched *s = w->s;
    s->outstanding--;
    gort_loop_unref(s->loop);
    if (!s->closing && w->fired != (int)w->n) {
        lua_State *L = s->L;
        lua_pushcfunction(L, ext_deliver);
        lua_pushlightuserdata(L, w);
        if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
            fprintf(stderr, "gort: wake-up failed: %s\n", lua_tostring(L, -1));
            lua_pop(L, 1);
        }
    }
    ext_free(w);
}

static void ext_run(void *arg)
{
    extwait *w = arg;
    w->fired = gort_select(w->cases, w->n + 1, w->deadline);
    /* GORT_ENOMEM here would strand the waiting goroutine; retry until the
     * loop's queue has room. Any other failure (GORT_ESHUTDOWN: the engine
     * is going away) means the state's loop can never run again, so there
     * is nobody left to hand the result to. */
    while (gort_loop_post(w->s->loop, ext_done, w) == GORT_ENOMEM)
        gort_sleep(GORT_MILLISECOND);
}

/* Fill w from the cases table at index 2 (protected: on an error w->n
 * counts the converted cases, which ext_free undoes). */
static int ext_fill(lua_State *L)
{
    extwait *w = lua_touserdata(L, 1);
    size_t n = (size_t)lua_tointeger(L, 3);
    for (size_t i = 0; i < n; i++) {
        lua_geti(L, 2, (lua_Integer)i + 1);
        if (!lua_istable(L, -1))
            return luaL_error(L, "gort: select case %d is not a table", (int)i + 1);
        lua_geti(L, -1, 1);
        const char *op = lua_tostring(L, -1);
        int send = op && strcmp(op, "send") == 0;
        if (!op || (!send && strcmp(op, "recv") != 0))
            return luaL_error(L, "gort: select case %d: \"send\" or \"recv\" expected", (int)i + 1);
        lua_geti(L, -2, 2);
        schan **ud = luaL_testudata(L, -1, SCHAN_MT);
        if (!ud || !*ud)
            return luaL_error(L, "gort: select case %d: not a shared channel", (int)i + 1);
        uint64_t m = 0;
        if (send) {
            lua_geti(L, -3, 3);
            m = to_msg(L, *ud, -1);
            lua_pop(L, 1);
        }
        w->chans[i] = schan_ref(*ud);
        w->cases[i].chan = (*ud)->ch;
        w->cases[i].dir = send ? GORT_SEND : GORT_RECV;
        w->cases[i].elem = &w->msgs[i];
        w->msgs[i] = m;
        w->n = i + 1;
        lua_pop(L, 3);
    }
    return 0;
}

/* (token, cases, timeout|nil): cases = { {"send"|"recv", schan, value}, ... }.
 * Starts the wait; the result arrives as wake(token, index, value, ok) or
 * wake(token, nil, "timeout"). */
int gortlua_ext_select(lua_State *L)
{
    sched *s = get_sched(L);
    lua_Integer token = luaL_checkinteger(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int64_t deadline = GORT_FOREVER;
    if (!lua_isnoneornil(L, 3))
        deadline = gort_now() + seconds_to_ns(L, 3);
    size_t n = (size_t)luaL_len(L, 2);
    extwait *w = calloc(1, sizeof *w + (n + 1) * sizeof(gort_case) +
                               n * (sizeof(schan *) + sizeof(uint64_t)));
    if (!w)
        return luaL_error(L, "gort: out of memory");
    w->s = s;
    w->token = token;
    w->deadline = deadline;
    w->fired = -1;
    w->chans = (schan **)(w->cases + n + 1);
    w->msgs = (uint64_t *)(w->chans + n);
    lua_pushcfunction(L, ext_fill);
    lua_pushlightuserdata(L, w);
    lua_pushvalue(L, 2);
    lua_pushinteger(L, (lua_Integer)n);
    if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
        ext_free(w);
        return lua_error(L);
    }
    w->cases[n].chan = s->cancel;
    w->cases[n].dir = GORT_RECV;
    w->cases[n].elem = NULL;
    s->outstanding++;
    gort_loop_ref(s->loop);
    int rc = gort_go(ext_run, w);
    if (rc != 0) {
        s->outstanding--;
        gort_loop_unref(s->loop);
        ext_free(w);
        return luaL_error(L, "gort: cannot start a wait: %s", gort_strerror(rc));
    }
    return 0;
}

/* ---- gort.state -------------------------------------------------------------- */

typedef struct stjob {
    char *source;    /* chunk text or file name */
    int is_file;     /* source names a file */
    char *path, *cpath; /* package.path / cpath of the creator */
    blob *args;      /* {n = N, ...} */
    schan *result;   /* value channel: {ok, n = N, ...} */
} stjob;

static const char state_boot[] =
    "local src, is_file, args = ...\n"
    "local gort = require 'gort'\n"
    "local fn, err\n"
    "if is_file then fn, err = loadfile(src) else fn, err = load(src, '=gort.state') end\n"
    "if not fn then return { false, err, n = 2 } end\n"
    "return table.pack(xpcall(gort.run, debug.traceback, fn, table.unpack(args, 1, args.n)))\n";

/* Run the job in the new state: returns the result table {ok, ..., n = N}. */
static int state_main_k(lua_State *L)
{
    stjob *j = lua_touserdata(L, 1);
    luaL_openlibs(L);
    lua_getglobal(L, "package");
    lua_pushstring(L, j->path);
    lua_setfield(L, -2, "path");
    lua_pushstring(L, j->cpath);
    lua_setfield(L, -2, "cpath");
    lua_pop(L, 1);
    if (luaL_loadbuffer(L, state_boot, sizeof state_boot - 1, "=gort.state.boot") != LUA_OK)
        return lua_error(L);
    lua_pushstring(L, j->source);
    lua_pushboolean(L, j->is_file);
    blob *args = j->args;
    j->args = NULL;
    push_blob(L, args);
    lua_call(L, 3, 1);
    return 1;
}

/* (message) -> {false, message, n = 2} */
static int state_fail_k(lua_State *L)
{
    lua_createtable(L, 2, 1);
    lua_pushboolean(L, 0);
    lua_rawseti(L, -2, 1);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 2);
    lua_pushinteger(L, 2);
    lua_setfield(L, -2, "n");
    return 1;
}

/* (result, job): copy the result into the job's channel */
static int state_send_k(lua_State *L)
{
    stjob *j = lua_touserdata(L, 2);
    uint64_t m = to_msg(L, j->result, 1);
    if (gort_chan_send(j->result->ch, &m) != 0)
        free_msg(K_VALUE, (void *)(uintptr_t)m);
    return 0;
}

/* Call f(top[, j]) protected, replacing the top value with its nres results
 * (or with the error message). */
static int apply_top(lua_State *L, lua_CFunction f, stjob *j, int nres)
{
    lua_pushcfunction(L, f);
    lua_insert(L, -2);
    if (j)
        lua_pushlightuserdata(L, j);
    return lua_pcall(L, j ? 2 : 1, nres, 0);
}

static void *state_thread(void *arg)
{
    stjob *j = arg;
    lua_State *L = luaL_newstate();
    if (L) {
        lua_pushcfunction(L, state_main_k);
        lua_pushlightuserdata(L, j);
        int rc = lua_pcall(L, 1, 1, 0);
        if (rc != LUA_OK)
            rc = apply_top(L, state_fail_k, NULL, 1);
        if (rc == LUA_OK && apply_top(L, state_send_k, j, 0) != LUA_OK &&
            apply_top(L, state_fail_k, NULL, 1) == LUA_OK) /* an uncopyable result */
            apply_top(L, state_send_k, j, 0);
        lua_close(L);
    }
    gort_chan_close(j->result->ch);
    blob_free(j->args);
    schan_unref(j->result);
    free(j->source);
    free(j->path);
    free(j->cpath);
    free(j);
    return NULL;
}

static char *dup_field(lua_State *L, const char *field)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, field);
    const char *v = lua_tostring(L, -1);
    char *p = strdup(v ? v : "");
    lua_pop(L, 2);
    return p;
}

/* (source, is_file, args_table) -> result channel (value kind, cap 1) */
int gortlua_state(lua_State *L)
{
    const char *src = luaL_checkstring(L, 1);
    int is_file = lua_toboolean(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    blob *args = to_blob(L, 3);
    gort_chan *ch = gort_chan_make(sizeof(uint64_t), 1);
    stjob *j = calloc(1, sizeof *j);
    if (!ch || !j) {
        if (ch)
            gort_chan_release(ch);
        free(j);
        blob_free(args);
        return luaL_error(L, "gort: out of memory");
    }
    j->args = args;
    j->is_file = is_file;
    j->source = strdup(src);
    j->path = dup_field(L, "path");
    j->cpath = dup_field(L, "cpath");
    schan *res = malloc(sizeof *res);
    if (!j->source || !j->path || !j->cpath || !res) {
        free(res);
        gort_chan_release(ch);
        free(j->source), free(j->path), free(j->cpath);
        blob_free(args);
        free(j);
        return luaL_error(L, "gort: out of memory");
    }
    atomic_init(&res->refs, 2); /* the thread's and the returned object's */
    res->ch = ch;
    res->kind = K_VALUE;
    res->drain = 1;
    j->result = res;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, (size_t)8 << 20);
    pthread_t t;
    int rc = pthread_create(&t, &attr, state_thread, j);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        schan_unref(res);
        schan_unref(res);
        blob_free(args);
        free(j->source), free(j->path), free(j->cpath);
        free(j);
        return luaL_error(L, "gort: cannot start a state thread: %s", strerror(rc));
    }
    push_schan(L, res);
    return 1;
}

/* ---- promises -------------------------------------------------------------- */
/* A Lua promise is a gort_promise whose value (or rejection value) is a
 * blob: a copy, like a value channel's message, so the promise may settle
 * on any thread and be freed anywhere (blob_free touches no Lua state).
 * gort.lua builds then/await/all on watch: a reaction on this state's loop
 * that hands the outcome to the wake function. */

#define PROMISE_MT "gort.promise"

/* One C value of any GORT_T_* type (native call arguments and results). */
typedef union cval {
    int8_t i8; uint8_t u8; int16_t i16; uint16_t u16; int32_t i32; uint32_t u32;
    int64_t i64; uint64_t u64; float f; double d; void *p; const char *s; _Bool b;
} cval;
static int push_cval(lua_State *L, int t, const cval *v);

static void blob_dtor(void *p) { blob_free(p); }

typedef struct watch {
    lua_Integer token; /* for the wake function */
    int all;           /* the value is gort_promise_all's array of n */
    size_t n;
    int ctype;         /* > 0: the value points at a C result of this GORT_T_* */
} watch;

static gort_promise *check_promise(lua_State *L, int idx)
{
    gort_promise **ud = luaL_checkudata(L, idx, PROMISE_MT);
    return *ud;
}

static int promise_gc(lua_State *L)
{
    gort_promise **ud = luaL_checkudata(L, 1, PROMISE_MT);
    if (*ud)
        gort_promise_release(*ud);
    *ud = NULL;
    return 0;
}

/* Push a Lua object for p (takes the reference). */
static void push_promise(lua_State *L, gort_promise *p)
{
    gort_promise **ud = lua_newuserdatauv(L, sizeof *ud, 0);
    *ud = p;
    if (luaL_newmetatable(L, PROMISE_MT)) {
        lua_pushcfunction(L, promise_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
}

int gortlua_promise_new(lua_State *L)
{
    gort_promise *p = gort_promise_new();
    if (!p)
        return luaL_error(L, "gort: out of memory");
    push_promise(L, p);
    return 1;
}

/* (p, ok, value): fulfil (ok) or reject p with a copy of value, or adopt
 * value's state if it is a promise. Settling twice is a no-op (A+). */
int gortlua_promise_settle(lua_State *L)
{
    gort_promise *p = check_promise(L, 1);
    int ok = lua_toboolean(L, 2);
    gort_promise **other = luaL_testudata(L, 3, PROMISE_MT);
    if (ok && other && *other) {
        gort_promise_resolve_with(p, *other);
        return 0;
    }
    blob *bl = to_blob(L, 3);
    if (ok)
        gort_promise_resolve(p, bl, blob_dtor);
    else
        gort_promise_reject_value(p, GORT_EREJECTED, bl, blob_dtor);
    return 0;
}

int gortlua_promise_state(lua_State *L)
{
    static const char *const names[] = { "pending", "fulfilled", "rejected" };
    lua_pushstring(L, names[gort_promise_state(check_promise(L, 1))]);
    return 1;
}

/* Push a borrowed promise value (a blob of ours, else a light userdata). */
static void push_value(lua_State *L, void *v, gort_dtor_fn dtor)
{
    if (!v)
        lua_pushnil(L);
    else if (dtor == blob_dtor)
        dec(L, v, 0);
    else
        lua_pushlightuserdata(L, v);
}

static int watch_deliver(lua_State *L)
{
    watch *w = lua_touserdata(L, 1);
    gort_promise *p = lua_touserdata(L, 2);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &wake_key);
    lua_pushinteger(L, w->token);
    int fulfilled = gort_promise_state(p) == GORT_FULFILLED;
    lua_pushboolean(L, fulfilled);
    if (fulfilled && w->all) {
        void **vals = gort_promise_value(p);
        lua_createtable(L, (int)w->n, 1);
        for (size_t i = 0; i < w->n; i++) {
            push_value(L, vals[i], blob_dtor); /* inputs checked by promise_all */
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_pushinteger(L, (lua_Integer)w->n);
        lua_setfield(L, -2, "n");
    } else if (fulfilled && w->ctype > 0) {
        cval v;
        memset(&v, 0, sizeof v);
        if (gort_promise_value(p))
            memcpy(&v, gort_promise_value(p), gort_type_size(w->ctype));
        if (!push_cval(L, w->ctype, &v))
            lua_pushnil(L);
    } else if (fulfilled) {
        push_value(L, gort_promise_value(p), gort_promise_dtor(p));
    } else if (gort_promise_reason(p)) {
        push_value(L, gort_promise_reason(p), gort_promise_dtor(p));
    } else {
        lua_pushfstring(L, "%s: %s", gort_err_name(gort_promise_error(p)),
                        gort_promise_message(p) ? gort_promise_message(p)
                                                : gort_strerror(gort_promise_error(p)));
    }
    lua_call(L, 3, 0);
    return 0;
}

static void watch_react(gort_promise *next, gort_promise *settled, void *user_data)
{
    (void)next;
    sched *s = driving;
    if (!s || s->closing)
        return;
    lua_State *L = s->L;
    if (!lua_checkstack(L, 4))
        return;
    lua_pushcfunction(L, watch_deliver);
    lua_pushlightuserdata(L, user_data);
    lua_pushlightuserdata(L, settled);
    call_wake(L, 2);
}

/* (p, token[, n]): wake(token, fulfilled, value) once p settles. */
int gortlua_promise_watch(lua_State *L)
{
    sched *s = get_sched(L);
    gort_promise *p = check_promise(L, 1);
    watch *w = malloc(sizeof *w);
    if (!w)
        return luaL_error(L, "gort: out of memory");
    w->token = luaL_checkinteger(L, 2);
    w->all = !lua_isnoneornil(L, 3);
    w->n = (size_t)luaL_optinteger(L, 3, 0);
    w->ctype = (int)luaL_optinteger(L, 4, 0);
    gort_promise *next = gort_promise_then_ex(p, s->loop, watch_react, watch_react, w, free);
    if (!next) {
        free(w);
        return luaL_error(L, "gort: out of memory");
    }
    gort_promise_release(next);
    return 0;
}

/* ({p1, ..., pn}) -> gort_promise_all of them (Lua promises only). */
int gortlua_promise_all(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    size_t n = (size_t)luaL_len(L, 1);
    gort_promise **ps = malloc((n ? n : 1) * sizeof *ps);
    if (!ps)
        return luaL_error(L, "gort: out of memory");
    for (size_t i = 0; i < n; i++) {
        lua_geti(L, 1, (lua_Integer)i + 1);
        gort_promise **ud = luaL_testudata(L, -1, PROMISE_MT);
        lua_pop(L, 1); /* the table keeps it alive */
        if (!ud || !*ud) {
            free(ps);
            return luaL_error(L, "gort: Promise.all: element %d is not a gort promise", (int)i + 1);
        }
        ps[i] = *ud;
    }
    gort_promise *all = gort_promise_all(ps, n);
    free(ps);
    if (!all)
        return luaL_error(L, "gort: out of memory");
    push_promise(L, all);
    return 1;
}

/* ---- native calls ------------------------------------------------------------ */
/* gort.native(path):func(decl) over gort_sig_new / gort_call /
 * gort_call_async: arguments are converted by the signature's types (an
 * integer type wants a Lua integer, a float type a number, char * a string
 * (or nil), other pointers a light userdata (or nil)); the result comes
 * back the same way (char * as a Lua string, NULL as nil). Libraries stay
 * loaded for the process's lifetime. */

#define NFUNC_MT "gort.nfunc"

typedef struct nfunc {
    gort_sig *sig;       /* parsed declaration */
    void (*fn)(void);    /* the symbol */
} nfunc;


#define NATIVE_MAXARGS 32

static int nfunc_gc(lua_State *L)
{
    nfunc *f = luaL_checkudata(L, 1, NFUNC_MT);
    gort_sig_free(f->sig);
    f->sig = NULL;
    return 0;
}

int gortlua_native_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return luaL_error(L, "gort.native: %s", dlerror());
    lua_pushlightuserdata(L, h);
    return 1;
}

/* (library handle, decl) -> nfunc */
int gortlua_native_func(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TLIGHTUSERDATA);
    void *h = lua_touserdata(L, 1);
    const char *decl = luaL_checkstring(L, 2);
    gort_sig_diag diag;
    gort_sig *sig = NULL;
    int rc = gort_sig_parse(&sig, decl, &diag);
    if (rc == GORT_EINVAL)
        return luaL_error(L, "gort.native: bad declaration at %d: %s", (int)diag.pos, diag.msg);
    if (rc != 0)
        return luaL_error(L, "gort.native: %s", gort_strerror(rc));
    const char *name = gort_sig_name(sig);
    void *sym = *name ? dlsym(h, name) : NULL;
    if (!sym || gort_sig_nargs(sig) > NATIVE_MAXARGS || gort_sig_variadic(sig)) {
        if (!*name)
            lua_pushliteral(L, "gort.native: the declaration needs a function name");
        else if (!sym)
            lua_pushfstring(L, "gort.native: no symbol '%s' in the library", name);
        else
            lua_pushfstring(L, "gort.native: variadic or more than %d arguments: not supported",
                            NATIVE_MAXARGS);
        gort_sig_free(sig); /* name pointed into it */
        return lua_error(L);
    }
    nfunc *f = lua_newuserdatauv(L, sizeof *f, 0);
    f->sig = sig;
    memcpy(&f->fn, &sym, sizeof sym); /* object to function pointer (POSIX) */
    if (luaL_newmetatable(L, NFUNC_MT)) {
        lua_pushcfunction(L, nfunc_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return 1;
}

static lua_Integer check_int(lua_State *L, int idx, int type)
{
    int isnum;
    lua_Integer v = lua_tointegerx(L, idx, &isnum);
    if (!isnum)
        luaL_error(L, "gort.native: argument %d: an integer for %s expected, got %s", idx - 1,
                   gort_type_name(type), luaL_typename(L, idx));
    return v;
}

/* Convert the Lua arguments from index 2 into vals/args (raises on bad ones). */
static const nfunc *native_args(lua_State *L, cval *vals, void **args)
{
    const nfunc *f = luaL_checkudata(L, 1, NFUNC_MT);
    size_t n = gort_sig_nargs(f->sig);
    if ((size_t)lua_gettop(L) - 1 != n)
        luaL_error(L, "gort.native: %s takes %d argument(s), got %d", gort_sig_name(f->sig), (int)n,
                   lua_gettop(L) - 1);
    for (size_t i = 0; i < n; i++) {
        int idx = (int)i + 2, t = gort_sig_arg(f->sig, i);
        cval *v = &vals[i];
        switch (t) {
        case GORT_T_BOOL: v->b = lua_toboolean(L, idx); break;
        case GORT_T_INT8: v->i8 = (int8_t)check_int(L, idx, t); break;
        case GORT_T_UINT8: v->u8 = (uint8_t)check_int(L, idx, t); break;
        case GORT_T_INT16: v->i16 = (int16_t)check_int(L, idx, t); break;
        case GORT_T_UINT16: v->u16 = (uint16_t)check_int(L, idx, t); break;
        case GORT_T_INT32: v->i32 = (int32_t)check_int(L, idx, t); break;
        case GORT_T_UINT32: v->u32 = (uint32_t)check_int(L, idx, t); break;
        case GORT_T_INT64: v->i64 = (int64_t)check_int(L, idx, t); break;
        case GORT_T_UINT64: v->u64 = (uint64_t)check_int(L, idx, t); break;
        case GORT_T_FLOAT: v->f = (float)luaL_checknumber(L, idx); break;
        case GORT_T_DOUBLE: v->d = (double)luaL_checknumber(L, idx); break;
        case GORT_T_STRING: v->s = lua_isnil(L, idx) ? NULL : luaL_checkstring(L, idx); break;
        default:
            if (!lua_isnil(L, idx) && !lua_islightuserdata(L, idx))
                luaL_error(L, "gort.native: argument %d: a light userdata or nil for %s expected",
                           idx - 1, gort_type_name(t));
            v->p = lua_touserdata(L, idx);
            break;
        }
        args[i] = v;
    }
    return f;
}

/* Push a C value of type t (nothing for void); returns the count pushed. */
static int push_cval(lua_State *L, int t, const cval *v)
{
    switch (t) {
    case GORT_T_VOID: return 0;
    case GORT_T_BOOL: lua_pushboolean(L, v->b); break;
    case GORT_T_INT8: lua_pushinteger(L, v->i8); break;
    case GORT_T_UINT8: lua_pushinteger(L, v->u8); break;
    case GORT_T_INT16: lua_pushinteger(L, v->i16); break;
    case GORT_T_UINT16: lua_pushinteger(L, v->u16); break;
    case GORT_T_INT32: lua_pushinteger(L, v->i32); break;
    case GORT_T_UINT32: lua_pushinteger(L, (lua_Integer)v->u32); break;
    case GORT_T_INT64: lua_pushinteger(L, (lua_Integer)v->i64); break;
    case GORT_T_UINT64: lua_pushinteger(L, (lua_Integer)v->u64); break; /* wraps above 2^63 */
    case GORT_T_FLOAT: lua_pushnumber(L, v->f); break;
    case GORT_T_DOUBLE: lua_pushnumber(L, v->d); break;
    case GORT_T_STRING: if (v->s) lua_pushstring(L, v->s); else lua_pushnil(L); break;
    default: if (v->p) lua_pushlightuserdata(L, v->p); else lua_pushnil(L); break;
    }
    return 1;
}

/* (nfunc, ...) -> result: the call, here (blocks this state's driver). */
int gortlua_native_call(lua_State *L)
{
    cval vals[NATIVE_MAXARGS], ret;
    void *args[NATIVE_MAXARGS];
    const nfunc *f = native_args(L, vals, args);
    memset(&ret, 0, sizeof ret);
    int rc = gort_call(f->sig, f->fn, args, &ret);
    if (rc != 0)
        return luaL_error(L, "gort.native: %s", gort_strerror(rc));
    return push_cval(L, gort_sig_ret(f->sig), &ret);
}

/* (nfunc, ...) -> promise, result type: the call on a pool goroutine. */
int gortlua_native_async(lua_State *L)
{
    cval vals[NATIVE_MAXARGS];
    void *args[NATIVE_MAXARGS];
    const nfunc *f = native_args(L, vals, args);
    gort_promise *p = gort_call_async(f->sig, f->fn, args);
    if (!p)
        return luaL_error(L, "gort.native: cannot start the call (engine stopping or out of memory)");
    push_promise(L, p);
    lua_pushinteger(L, gort_sig_ret(f->sig));
    return 2;
}
