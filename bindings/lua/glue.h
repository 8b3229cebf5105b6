/*
 * glue.h — the hand-written lua_CFunction glue of gort's Lua binding,
 * registered into the SWIG module gort.core with %native (gort.i).
 * See glue.c for the design.
 */
#ifndef GORTLUA_GLUE_H
#define GORTLUA_GLUE_H

#include <lua.h>

int gortlua_setup(lua_State *L);        /* engine + this state's scheduler */
int gortlua_run_once(lua_State *L);     /* (block) -> still pending */
int gortlua_timer(lua_State *L);        /* (seconds, token) -> id */
int gortlua_timer_cancel(lua_State *L); /* (id) */
int gortlua_park(lua_State *L);         /* yield the goroutine to the scheduler */
int gortlua_park_sentinel(lua_State *L); /* () -> what park yields */
int gortlua_schan_new(lua_State *L);    /* (cap, kind) -> shared channel */
int gortlua_schan_wrap(lua_State *L);   /* (lightuserdata gort_chan *, kind) */
int gortlua_ext_select(lua_State *L);   /* (token, cases, timeout|nil) */
int gortlua_state(lua_State *L);        /* (source, is_file, ...) -> result channel */
int gortlua_outstanding(lua_State *L);  /* external waits in flight */
int gortlua_promise_new(lua_State *L);  /* () -> promise */
int gortlua_promise_settle(lua_State *L); /* (p, ok, value) */
int gortlua_promise_state(lua_State *L);  /* (p) -> "pending"|... */
int gortlua_promise_watch(lua_State *L);  /* (p, token[, n]) */
int gortlua_promise_all(lua_State *L);    /* ({p...}) -> promise */
int gortlua_native_open(lua_State *L);  /* (path) -> library handle */
int gortlua_native_func(lua_State *L);  /* (handle, decl) -> function */
int gortlua_native_call(lua_State *L);  /* (fn, ...) -> result */
int gortlua_native_async(lua_State *L); /* (fn, ...) -> promise, result type */

#endif
