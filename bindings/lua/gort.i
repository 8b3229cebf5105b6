/*
 * gort.i — SWIG interface of gort's Lua binding: module gort.core.
 *
 * SWIG wraps the plain, non-blocking C API (version, clock, error names,
 * engine facts); everything that spawns, blocks or calls back is
 * hand-written glue (glue.c) registered with %native, because a SWIG
 * wrapper cannot yield a coroutine.  64-bit integers go through
 * lua_Integer (SWIG's default maps them to lua_Number and loses
 * precision above 2^53).
 */
%module gort_core

%{
#include <gort.h>
#include "glue.h"
%}

%typemap(in, checkfn="lua_isinteger") int64_t, long long
%{ $1 = ($1_ltype)lua_tointeger(L, $input); %}
%typemap(out) int64_t, long long
%{ lua_pushinteger(L, (lua_Integer)$1); SWIG_arg++; %}
%typemap(typecheck, precedence=SWIG_TYPECHECK_INT64) int64_t, long long
%{ $1 = lua_isinteger(L, $input); %}

typedef long long int64_t;

unsigned    gort_version(void);
const char *gort_version_string(void);
const char *gort_strerror(int err);
const char *gort_err_name(int err);
int64_t     gort_now(void);
int         gort_procs(void);
int         gort_initialized(void);

%native(setup)       int gortlua_setup(lua_State *L);
%native(run_once)    int gortlua_run_once(lua_State *L);
%native(timer)       int gortlua_timer(lua_State *L);
%native(timer_cancel) int gortlua_timer_cancel(lua_State *L);
%native(park)        int gortlua_park(lua_State *L);
%native(park_sentinel) int gortlua_park_sentinel(lua_State *L);
%native(schan_new)   int gortlua_schan_new(lua_State *L);
%native(schan_wrap)  int gortlua_schan_wrap(lua_State *L);
%native(ext_select)  int gortlua_ext_select(lua_State *L);
%native(state)       int gortlua_state(lua_State *L);
%native(outstanding) int gortlua_outstanding(lua_State *L);
%native(promise_new)    int gortlua_promise_new(lua_State *L);
%native(promise_settle) int gortlua_promise_settle(lua_State *L);
%native(promise_state)  int gortlua_promise_state(lua_State *L);
%native(promise_watch)  int gortlua_promise_watch(lua_State *L);
%native(promise_all)    int gortlua_promise_all(lua_State *L);
%native(native_open)  int gortlua_native_open(lua_State *L);
%native(native_func)  int gortlua_native_func(lua_State *L);
%native(native_call)  int gortlua_native_call(lua_State *L);
%native(native_async) int gortlua_native_async(lua_State *L);
