--[[
gort.lua — the Lua half of gort's Lua binding (the C half is gort.core:
glue.c, SWIG module gort.i). See docs/lua.md for the user's view.

Concepts
  - Goroutines are coroutines of this lua_State. Runnable ones wait in a
    FIFO run queue (rq_*); the driver (drive) resumes them one batch at a
    time and in between runs one iteration of the state's gort loop
    (core.run_once), where due timers and finished external waits call
    wake(token, ...). The driver runs on the thread that drives the state:
    the main chunk's, inside gort.run or any blocking call made there.
  - A waiter is the record of one blocked caller: {co = coroutine} for a
    goroutine, {main = true} for the main chunk. A goroutine blocks by
    registering its waiter somewhere (a channel queue, waits[token], a
    mutex queue) and calling core.park, which yields to the driver; the
    main chunk blocks by driving until ready() hands it values. ready(w,
    a, b, c) is the only way a waiter wakes, with up to three values.
  - In-state channels (Chan) are Lua tables: a buffer ring (bh..bt, count,
    nil-safe) and two waiter queues (recvq, sendq) whose slots can be
    cleared in place, so select losers and timed-out waiters unregister in
    O(1). Shared channels (gort.chan(cap, kind)) are gort_chans in C;
    blocking on them starts an external wait (core.ext_select).
  - Collection: a waiter of a goroutine carries a finalizer (WaiterMT).
    The run queue, waits[] and a channel queue hold waiters strongly, but
    nothing else does: a goroutine parked on a channel nobody can reach is
    garbage together with the channel, and the finalizer closes the
    coroutine (coroutine.close), which runs its pending __close variables.
    ready() disarms the finalizer (w.co = nil) before the goroutine moves
    to the run queue.

Invariants
  - Every waiter is woken at most once: whoever wakes it first removed it
    from every queue it was in and cancelled its timer.
  - The driver never nests: a blocking call on the main thread while the
    driver runs (a finalizer, gort.on_error) raises an error instead.

Rejected alternatives: a C run queue (the Lua one keeps waiters
collectable without a registry of references); yielding from inside
nested user coroutines (the blocking call would return to the wrong
resumer: it raises an error instead).
]]
-- One module instance per lua_State, even if package.loaded is reset (a
-- test runner's insulation): the scheduler below is per state.
local registry = debug.getregistry()
if registry["gort.module"] then return registry["gort.module"] end

local core = require "gort.core"

local gort = {}

local co_create, co_resume, co_status, co_running, co_close, co_isyieldable =
    coroutine.create, coroutine.resume, coroutine.status, coroutine.running, coroutine.close,
    coroutine.isyieldable
local park, PARKED = core.park, core.park_sentinel()
local pack, unpack = table.pack, table.unpack
local traceback = debug.traceback

-- ---- errors -----------------------------------------------------------------

local ErrMT = { __tostring = function(e) return e.code .. ": " .. e.message end }
gort.Error = ErrMT

local function raise(code, message, level)
    error(setmetatable({ code = code, message = message }, ErrMT), level or 2)
end

local function raise_closed(what)
    raise("GORT_ECLOSED", what or "send on closed channel", 3)
end

-- The default reporter of errors that escape a goroutine; replace it freely.
function gort.on_error(err, tb)
    io.stderr:write("gort: error in goroutine: ", tb, "\n")
end

-- ---- the run queue and the driver -----------------------------------------

local rq_co, rq_a, rq_b, rq_c = {}, {}, {}, {}
local rq_head, rq_tail = 1, 0
local current = nil        -- the goroutine being resumed
local driving = false      -- the driver runs (on the main thread)
local main_wake = nil      -- values for the main chunk's waiter, once ready
local alive = setmetatable({}, { __mode = "k" }) -- goroutines not finished
local mains = setmetatable({}, { __mode = "k" }) -- gort.run goroutine -> record

local WaiterMT = {
    __gc = function(w)
        local co = w.co
        if co and co_status(co) == "suspended" then
            co_close(co) -- runs its __close handlers; errors there are dropped
        end
    end,
}

local function ready(w, a, b, c)
    if w.main then
        main_wake = { a, b, c }
        return
    end
    local co = w.co
    w.co = nil
    local t = rq_tail + 1
    rq_tail = t
    rq_co[t], rq_a[t], rq_b[t], rq_c[t] = co, a, b, c
end

local function push(co)
    local t = rq_tail + 1
    rq_tail = t
    rq_co[t] = co
end

local function report(co, err)
    local msg = err
    if type(err) ~= "string" then msg = tostring(err) end
    local tb = traceback(co, msg)
    local rec = mains[co]
    if rec then
        rec.err, rec.done = tb, true
        return
    end
    local ok, e = pcall(gort.on_error, err, tb)
    if not ok then io.stderr:write("gort: gort.on_error failed: ", tostring(e), "\n") end
end

local function step(co, a, b, c)
    if co_status(co) ~= "suspended" then return end -- failed while it was queued
    current = co
    local ok, y = co_resume(co, a, b, c)
    current = nil
    if not ok then
        alive[co] = nil
        report(co, y)
    elseif co_status(co) == "dead" then
        alive[co] = nil
    elseif y ~= PARKED then
        push(co) -- a plain coroutine.yield(): like gort.yield()
    end
end

local DEADLOCK = "all goroutines are asleep - deadlock!"
local POLL_EVERY = 64   -- batches between loop polls while goroutines are runnable
local polls_skipped = 0

-- Run goroutines until cond() holds. Raises DEADLOCK when nothing can ever
-- make it hold.
local function drive(cond)
    driving = true
    while true do
        local last = rq_tail
        while rq_head <= last do
            local i = rq_head
            local co, a, b, c = rq_co[i], rq_a[i], rq_b[i], rq_c[i]
            rq_co[i], rq_a[i], rq_b[i], rq_c[i] = nil, nil, nil, nil
            rq_head = i + 1
            step(co, a, b, c)
        end
        local ok, pending = true, true
        if rq_head > rq_tail then
            rq_head, rq_tail = 1, 0
            polls_skipped = POLL_EVERY
        end
        -- Poll the loop (timers, completions, reactions) when nothing else
        -- can run, and every POLL_EVERY batches so they are not starved.
        polls_skipped = polls_skipped + 1
        if polls_skipped >= POLL_EVERY then
            polls_skipped = 0
            ok, pending = pcall(core.run_once, false)
        end
        if ok and not cond() and rq_head > rq_tail then
            if not pending then
                driving = false
                error(DEADLOCK, 0)
            end
            ok, pending = pcall(core.run_once, true)
        end
        if not ok then driving = false; error(pending, 0) end
        if cond() then break end
    end
    driving = false
end

local function main_ready() return main_wake ~= nil end

-- The waiter of the caller, or a clear error where it cannot block.
local function waiter(level)
    local co, ismain = co_running()
    if ismain then
        if driving then
            error("gort: blocking call on the main thread while goroutines run "
                  .. "(in a finalizer or gort.on_error?)", level or 3)
        end
        return { main = true }
    end
    if co ~= current then
        error("gort: blocking call in a coroutine that is not a gort goroutine "
              .. "(a nested coroutine cannot park its goroutine)", level or 3)
    end
    if not co_isyieldable() then
        error("gort: cannot block here: Lua cannot yield across this C call "
              .. "(a metamethod, require, table.sort comparator...)", level or 3)
    end
    return setmetatable({ co = co }, WaiterMT)
end

-- Block until ready(w, ...); returns its values.
local function wait(w)
    if w.main then
        drive(main_ready)
        local r = main_wake
        main_wake = nil
        return r[1], r[2], r[3]
    end
    return park()
end

-- ---- tokens: timers and external waits ---------------------------------

local waits = {}
local next_token = 0

local function token(cb)
    next_token = next_token + 1
    waits[next_token] = cb
    return next_token
end

core.setup(function(tok, a, b, c)
    local cb = waits[tok]
    if cb then
        waits[tok] = nil
        cb(a, b, c)
    end
end)

local function set_timer(seconds, cb)
    local tok = token(cb)
    return core.timer(seconds, tok), tok
end

local function cancel_timer(id, tok)
    waits[tok] = nil
    core.timer_cancel(id)
end

-- ---- goroutines ------------------------------------------------------------

local function spawn(fn, ...)
    local co
    if select("#", ...) == 0 then
        co = co_create(fn)
    else
        local args = pack(...)
        co = co_create(function() return fn(unpack(args, 1, args.n)) end)
    end
    alive[co] = true
    push(co)
    return co
end

function gort.go(fn, ...)
    if type(fn) ~= "function" and not (getmetatable(fn) or {}).__call then
        error("gort.go: a function expected, got " .. type(fn), 2)
    end
    spawn(fn, ...)
end

function gort.run(fn, ...)
    local _, ismain = co_running()
    if not ismain or driving then
        error("gort.run: call it from the main chunk (inside a goroutine use gort.go)", 2)
    end
    local rec = {}
    local args = pack(...)
    local co = spawn(function()
        rec.res = pack(fn(unpack(args, 1, args.n)))
        rec.done = true
    end)
    mains[co] = rec
    drive(function() return rec.done end)
    if rec.err then error(rec.err, 0) end
    return unpack(rec.res, 1, rec.res.n)
end

function gort.yield()
    local w = waiter()
    ready(w) -- back of the run queue (or, on the main thread, one driver pass)
    wait(w)
end

function gort.sleep(seconds)
    local w = waiter()
    set_timer(seconds, function() ready(w) end)
    wait(w)
end

-- Live goroutines (finished and collected ones are not counted).
function gort.count()
    local n = 0
    for _ in pairs(alive) do n = n + 1 end
    return n
end

gort.now = function() return core.gort_now() / 1e9 end
gort.now_ns = core.gort_now
gort.version = core.gort_version_string()
gort.procs = core.gort_procs

-- ---- waiter queues ----------------------------------------------------------

local function qnew() return { h = 1, t = 0, n = 0 } end

local function qpush(q, w)
    local t = q.t + 1
    q.t = t
    q[t] = w
    q.n = q.n + 1
    return t
end

local function qpop(q)
    local h, t = q.h, q.t
    while h <= t do
        local w = q[h]
        q[h] = nil
        h = h + 1
        if w then
            q.h = h
            q.n = q.n - 1
            return w
        end
    end
    q.h, q.t = 1, 0
    return nil
end

local function qremove(q, i, w)
    if q[i] == w then
        q[i] = false
        q.n = q.n - 1
    end
end

-- ---- in-state channels -----------------------------------------------------

local Chan = {}
Chan.__index = Chan
gort.Chan = Chan

local CLOSED = {} -- the "ok" a sender is woken with when its channel closes

-- Wake a queued waiter (plain or a select case) with (a, b).
local function deliver(w, a, b)
    local s = w.sel
    if s then
        for _, r in ipairs(s.regs) do qremove(r[1], r[2], r[3]) end
        if s.timer then cancel_timer(s.timer, s.tok) end
        ready(s, w.ci, a, b)
    else
        if w.timer then cancel_timer(w.timer, w.tok) end
        ready(w, a, b)
    end
end

local function bufpush(ch, v)
    local t = ch.bt + 1
    ch.bt = t
    ch.buf[t] = v
    ch.count = ch.count + 1
end

local function bufpop(ch)
    local h = ch.bh
    local v = ch.buf[h]
    ch.buf[h] = nil
    ch.bh = h + 1
    ch.count = ch.count - 1
    return v
end

-- Complete a receive now if possible: true, v, ok.
local function recv_now(ch)
    if ch.count > 0 then
        local v = bufpop(ch)
        local s = qpop(ch.sendq)
        if s then
            bufpush(ch, s.v)
            deliver(s, nil, true)
        end
        return true, v, true
    end
    local s = qpop(ch.sendq)
    if s then
        local v = s.v
        deliver(s, nil, true)
        return true, v, true
    end
    if ch.closed then return true, nil, false end
    return false
end

-- Complete a send now if possible (raises on a closed channel).
local function send_now(ch, v)
    if ch.closed then raise_closed() end
    local r = qpop(ch.recvq)
    if r then
        deliver(r, v, true)
        return true
    end
    if ch.count < ch.capacity then
        bufpush(ch, v)
        return true
    end
    return false
end

-- Park w in queue q, with an optional timeout; returns wait(w)'s values.
local function park_in(q, w, timeout)
    local i = qpush(q, w)
    if timeout then
        w.timer, w.tok = set_timer(timeout, function()
            qremove(q, i, w)
            ready(w, nil, "timeout")
        end)
    end
    return wait(w)
end

local function check_timeout(timeout)
    if timeout ~= nil and type(timeout) ~= "number" then
        error("gort: timeout in seconds expected, got " .. type(timeout), 3)
    end
end

function Chan:send(v)
    if send_now(self, v) then return true end
    local w = waiter()
    w.v = v
    local _, ok = park_in(self.sendq, w)
    if ok == CLOSED then raise_closed() end
    return true
end

-- send with a timeout in seconds: true, or nil, "timeout"
function Chan:send_until(v, timeout)
    check_timeout(timeout)
    if send_now(self, v) then return true end
    if timeout == 0 then return nil, "timeout" end
    local w = waiter()
    w.v = v
    local _, ok = park_in(self.sendq, w, timeout)
    if ok == CLOSED then raise_closed() end
    if ok == "timeout" then return nil, "timeout" end
    return true
end

function Chan:recv(timeout)
    check_timeout(timeout)
    local done, v, ok = recv_now(self)
    if done then return v, ok end
    if timeout == 0 then return nil, "timeout" end
    local v2, ok2 = park_in(self.recvq, waiter(), timeout)
    return v2, ok2
end

function Chan:try_send(v) return send_now(self, v) end

function Chan:try_recv()
    local done, v, ok = recv_now(self)
    if done then return v, ok end
    return nil, "empty"
end

function Chan:close()
    if self.closed then raise_closed("close of closed channel") end
    self.closed = true
    while true do
        local r = qpop(self.recvq)
        if not r then break end
        deliver(r, nil, false)
    end
    while true do
        local s = qpop(self.sendq)
        if not s then break end
        deliver(s, nil, CLOSED)
    end
end

function Chan:cap() return self.capacity end
function Chan:len() return self.count end
Chan.__len = Chan.len
function Chan:waiting() return self.recvq.n + self.sendq.n end -- for tests

function Chan:range()
    return function()
        local v, ok = self:recv()
        if ok then return v end
    end
end

-- ---- shared channels (gort_chan in C) ----------------------------------------

local probe = core.schan_new(0, "int64")
local SMT = getmetatable(probe)
local S = SMT.__index
probe = nil
local EAGAIN, ECLOSED = -11, -1002

-- Start an external wait and block on it: i, v, ok | nil, "timeout".
local function ext_wait(cases, timeout)
    local w = waiter(4)
    local tok = token(function(a, b, c) ready(w, a, b, c) end)
    local ok, err = pcall(core.ext_select, tok, cases, timeout)
    if not ok then waits[tok] = nil; error(err, 3) end
    return wait(w)
end

function S:send(v) return self:send_until(v, nil) end

function S:send_until(v, timeout)
    check_timeout(timeout)
    local rc = self:try_send_raw(v)
    if rc == 0 then return true end
    if rc == ECLOSED then raise_closed() end
    if timeout == 0 then return nil, "timeout" end
    local i, _, ok = ext_wait({ { "send", self, v } }, timeout)
    if i == nil then return nil, "timeout" end
    if not ok then raise_closed() end
    return true
end

function S:recv(timeout)
    check_timeout(timeout)
    local rc, v = self:try_recv_raw()
    if rc == 0 then return v, true end
    if rc == ECLOSED then return nil, false end
    if timeout == 0 then return nil, "timeout" end
    local i, v2, ok = ext_wait({ { "recv", self } }, timeout)
    if i == nil then return nil, "timeout" end
    return v2, ok
end

function S:try_send(v)
    local rc = self:try_send_raw(v)
    if rc == ECLOSED then raise_closed() end
    return rc == 0
end

function S:try_recv()
    local rc, v = self:try_recv_raw()
    if rc == 0 then return v, true end
    if rc == ECLOSED then return nil, false end
    return nil, "empty"
end

function S:close()
    if self:close_raw() ~= 0 then raise_closed("close of closed channel") end
end

S.range = Chan.range

-- gort.chan(cap): any Lua value, this state only.
-- gort.chan(cap, "int64"|"double"|"string"|"value"): a gort_chan shared with
-- C and other states ("value": copies of nil/booleans/numbers/strings/tables).
function gort.chan(cap, kind)
    cap = cap or 0
    if math.type(cap) ~= "integer" or cap < 0 then
        error("gort.chan: capacity must be an integer >= 0", 2)
    end
    if kind ~= nil then return core.schan_new(cap, kind) end
    return setmetatable({ capacity = cap, count = 0, buf = {}, bh = 1, bt = 0,
                          closed = false, recvq = qnew(), sendq = qnew() }, Chan)
end

-- Adopt a gort_chan * (lightuserdata) made by C; the C side keeps its reference.
function gort.wrap_chan(handle, kind) return core.schan_wrap(handle, kind) end

local function is_schan(v) return getmetatable(v) == SMT end
gort.is_shared = is_schan

-- ---- select ------------------------------------------------------------------

local random = math.random

local function select_shared(cases, timeout)
    local map, ext = {}, {}
    local n = #cases
    local start = random(n)
    for k = 0, n - 1 do -- a ready case first, in random order
        local i = (start + k - 1) % n + 1
        local c = cases[i]
        local ch = c[2]
        if ch then
            if c[1] == "send" then
                if ch:try_send(c[3]) then return i, nil, true end
            else
                local v, ok = ch:try_recv()
                if ok ~= "empty" then return i, v, ok end
            end
        end
    end
    if timeout == 0 then return nil, "timeout" end
    for i = 1, n do
        local c = cases[i]
        if c[2] then
            ext[#ext + 1] = c
            map[#ext] = i
        end
    end
    if #ext == 0 and not timeout then error(DEADLOCK, 2) end
    local i, v, ok = ext_wait(ext, timeout)
    if i == nil then return nil, "timeout" end
    if ext[i][1] == "send" and not ok then raise_closed() end
    return map[i], v, ok
end

-- gort.select({ {"recv", ch}, {"send", ch, v}, ... }, timeout) -> index, value, ok
-- (nil, "timeout"). A case whose channel is nil never fires.
function gort.select(cases, timeout)
    check_timeout(timeout)
    local n = #cases
    local nlocal, nshared = 0, 0
    for i = 1, n do
        local c = cases[i]
        if type(c) ~= "table" or (c[1] ~= "send" and c[1] ~= "recv") then
            error("gort.select: case " .. i .. " must be {\"recv\", ch} or {\"send\", ch, v}", 2)
        end
        local ch = c[2]
        if getmetatable(ch) == Chan then nlocal = nlocal + 1
        elseif is_schan(ch) then nshared = nshared + 1
        elseif ch ~= nil then error("gort.select: case " .. i .. " has no channel", 2) end
    end
    if nlocal > 0 and nshared > 0 then
        error("gort.select: in-state and shared channels cannot be mixed in one select", 2)
    end
    if nshared > 0 then return select_shared(cases, timeout) end
    if n > 0 then
        local start = random(n)
        for k = 0, n - 1 do
            local i = (start + k - 1) % n + 1
            local c = cases[i]
            local ch = c[2]
            if ch then
                if c[1] == "send" then
                    if send_now(ch, c[3]) then return i, nil, true end
                else
                    local done, v, ok = recv_now(ch)
                    if done then return i, v, ok end
                end
            end
        end
    end
    if timeout == 0 then return nil, "timeout" end
    local s = waiter()
    local regs = {}
    s.regs = regs
    for i = 1, n do
        local c = cases[i]
        local ch = c[2]
        if ch then
            local cw = { sel = s, ci = i, v = c[3] }
            local q = c[1] == "send" and ch.sendq or ch.recvq
            regs[#regs + 1] = { q, qpush(q, cw), cw }
        end
    end
    if timeout then
        s.timer, s.tok = set_timer(timeout, function()
            for _, r in ipairs(regs) do qremove(r[1], r[2], r[3]) end
            ready(s, nil, "timeout")
        end)
    end
    local i, v, ok = wait(s)
    if ok == CLOSED then raise_closed() end
    return i, v, ok
end

-- ---- timers ------------------------------------------------------------------

-- A channel that receives the time (gort.now()) once, after `seconds`.
function gort.after(seconds)
    local ch = gort.chan(1)
    set_timer(seconds, function() send_now(ch, gort.now()) end)
    return ch
end

-- ---- sync ----------------------------------------------------------------------

local WG = {}
WG.__index = WG

function gort.waitgroup() return setmetatable({ n = 0, q = qnew() }, WG) end

function WG:add(d)
    d = d or 1
    local n = self.n + d
    if n < 0 then error("gort: negative waitgroup counter", 2) end
    self.n = n
    if n == 0 then
        while true do
            local w = qpop(self.q)
            if not w then break end
            ready(w)
        end
    end
end

function WG:done() self:add(-1) end

function WG:wait()
    if self.n == 0 then return end
    local w = waiter()
    qpush(self.q, w)
    wait(w)
end

local Mutex = {}
Mutex.__index = Mutex

function gort.mutex() return setmetatable({ locked = false, q = qnew() }, Mutex) end

function Mutex:lock()
    if not self.locked then
        self.locked = true
        return
    end
    local w = waiter()
    qpush(self.q, w)
    wait(w) -- unlock hands the mutex over: still locked, now ours
end

function Mutex:trylock()
    if self.locked then return false end
    self.locked = true
    return true
end

function Mutex:unlock()
    if not self.locked then error("gort: unlock of unlocked mutex", 2) end
    local w = qpop(self.q)
    if w then ready(w) else self.locked = false end
end

local Once = {}
Once.__index = Once

function gort.once() return setmetatable({ state = 0, q = qnew() }, Once) end

-- Run fn the first time only; later callers wait until that run finished.
function Once:call(fn, ...)
    if self.state == 2 then return end
    if self.state == 1 then
        local w = waiter()
        qpush(self.q, w)
        wait(w)
        return
    end
    self.state = 1
    local ok, err = pcall(fn, ...)
    self.state = 2
    while true do
        local w = qpop(self.q)
        if not w then break end
        ready(w)
    end
    if not ok then error(err, 0) end
end
Once.__call = Once.call

-- ---- parallel states -------------------------------------------------------------

local State = {}
State.__index = State

-- gort.state(source_or_file, ...): run a chunk in a new Lua state on a thread
-- of its own (its own executor); arguments and results are copied.
function gort.state(src, ...)
    if type(src) ~= "string" then error("gort.state: a chunk or a file name expected", 2) end
    local is_file = false
    if not src:find("\n", 1, true) then
        local f = io.open(src, "r")
        if f then f:close(); is_file = true end
    end
    return setmetatable({ result = core.state(src, is_file, pack(...)) }, State)
end

-- Wait for the state's main function; its results, or its error raised here.
function State:join()
    local r = self.done
    if not r then
        local ok
        r, ok = self.result:recv()
        if not ok then r = { false, "gort.state: the state ended without a result", n = 2 } end
        self.done = r
    end
    if not r[1] then error(r[2], 2) end
    return unpack(r, 2, r.n)
end

-- ---- promises ----------------------------------------------------------------
-- A Promise wraps a gort_promise (core.promise_*) whose values are copies
-- (what a value channel carries). Handlers of next() run in goroutines of
-- this state, so they may block; `then` is a Lua keyword: p:next(f) is
-- p["then"](p, f).

local Promise = {}
Promise.__index = Promise
gort.Promise = Promise

local function wrap_promise(ud) return setmetatable({ ud = ud }, Promise) end
local function is_promise(v) return getmetatable(v) == Promise end

local function settle(p, ok, v)
    if is_promise(v) then v = v.ud end
    local copied, err = pcall(core.promise_settle, p.ud, ok, v)
    if not copied then core.promise_settle(p.ud, false, tostring(err)) end
end

-- Promise.new(function(resolve, reject) ... end): the executor runs now.
function Promise.new(executor)
    local p = wrap_promise(core.promise_new())
    local ok, err = pcall(executor, function(v) settle(p, true, v) end,
                          function(e) settle(p, false, e) end)
    if not ok then settle(p, false, err) end
    return p
end

function Promise.resolve(v)
    if is_promise(v) then return v end
    local p = wrap_promise(core.promise_new())
    settle(p, true, v)
    return p
end

function Promise.reject(e)
    local p = wrap_promise(core.promise_new())
    settle(p, false, e)
    return p
end

function Promise:state() return core.promise_state(self.ud) end

-- then(on_fulfilled, on_rejected) -> promise (A+: a missing handler passes
-- the outcome on; a handler's error rejects; a returned promise is adopted).
function Promise:next(on_fulfilled, on_rejected)
    local q = wrap_promise(core.promise_new())
    core.promise_watch(self.ud, token(function(ok, v)
        local h = ok and on_fulfilled or (not ok and on_rejected)
        if type(h) ~= "function" then return settle(q, ok, v) end
        spawn(function()
            local hok, r = pcall(h, v)
            settle(q, hok, r)
        end)
    end), self.n, self.ctype)
    return q
end
Promise["then"] = Promise.next

function Promise:catch(on_rejected) return self:next(nil, on_rejected) end

-- Park the caller until settled: the value, or the reason raised.
function Promise:await()
    local w = waiter()
    core.promise_watch(self.ud, token(function(ok, v) ready(w, ok, v) end), self.n, self.ctype)
    local ok, v = wait(w)
    if not ok then error(v, 2) end
    return v
end

-- Promise.all({p...}) -> promise of the table of values (gort_promise_all).
function Promise.all(list)
    local uds = {}
    for i, p in ipairs(list) do
        p = Promise.resolve(p)
        if p.ctype then p = p:next(function(v) return v end) end -- a native result: copy it
        uds[i] = p.ud
    end
    local all = wrap_promise(core.promise_all(uds))
    all.n = #uds
    return all
end

-- gort.async(fn, ...) -> a promise of fn's first result, fn running as a goroutine.
function gort.async(fn, ...)
    local p = wrap_promise(core.promise_new())
    local args = pack(...)
    spawn(function()
        local ok, r = pcall(fn, unpack(args, 1, args.n))
        settle(p, ok, r)
    end)
    return p
end

-- ---- native calls ------------------------------------------------------------
-- gort.native(path):func("double pow(double, double)") -> a callable:
-- fn(...) calls here; fn:async(...) runs the call on a pool goroutine and
-- returns a Promise of its result (string arguments are kept alive until
-- it settles).

local Lib, NFunc = {}, {}
Lib.__index = Lib
NFunc.__index = NFunc

function gort.native(path)
    return setmetatable({ handle = core.native_open(path), path = path }, Lib)
end

function Lib:func(decl)
    return setmetatable({ f = core.native_func(self.handle, decl), decl = decl }, NFunc)
end

function NFunc.__call(self, ...) return core.native_call(self.f, ...) end

function NFunc:async(...)
    local ud, ctype = core.native_async(self.f, ...)
    local p = wrap_promise(ud)
    p.ctype, p.keep = ctype, pack(...)
    return p
end

gort._outstanding = core.outstanding

registry["gort.module"] = gort
return gort
