-- Lua binding benchmarks, one run, ratios from that run:
--   ping-pong over gort.chan(0) vs a minimal coroutine scheduler with
--   queue-based channels written in Lua (the baseline a Lua library would
--   offer); goroutine spawn vs coroutine.wrap; parallel states (2 vs 1).
--   LUA_PATH=... LUA_CPATH=... lua5.4 bench/lua/bench.lua [runs]
local gort = require "gort"
local runs = tonumber(arg and arg[1]) or 5

local function median(f)
  local t = {}
  for i = 1, runs do
    collectgarbage()
    local t0 = gort.now()
    f()
    t[i] = gort.now() - t0
  end
  table.sort(t)
  return t[(runs + 1) // 2]
end

-- ---- a plain coroutine scheduler with a run queue and rendezvous channels --
local function plain_pingpong(n)
  local rq, head, tail = {}, 1, 0
  local function ready(co, v) tail = tail + 1; rq[tail] = { co, v } end
  local function chan() return { recvq = {}, sendq = {} } end
  local function send(ch, v)
    local r = table.remove(ch.recvq, 1)
    if r then ready(r, v); ready(coroutine.running()); coroutine.yield(); return end
    table.insert(ch.sendq, { coroutine.running(), v })
    coroutine.yield()
  end
  local function recv(ch)
    local s = table.remove(ch.sendq, 1)
    if s then ready(s[1]); return s[2] end
    table.insert(ch.recvq, coroutine.running())
    return coroutine.yield()
  end
  local a, b = chan(), chan()
  ready(coroutine.create(function() for i = 1, n do send(a, i); recv(b) end end))
  ready(coroutine.create(function() for _ = 1, n do send(b, recv(a)) end end))
  while head <= tail do
    local e = rq[head]; rq[head] = nil; head = head + 1
    assert(coroutine.resume(e[1], e[2]))
  end
end

local function gort_pingpong(n)
  gort.run(function()
    local a, b = gort.chan(0), gort.chan(0)
    local done = gort.chan(0)
    gort.go(function() for _ = 1, n do b:send(a:recv()) end done:send(true) end)
    for i = 1, n do a:send(i); b:recv() end
    done:recv()
  end)
end

local function gort_spawn(n)
  gort.run(function()
    local wg = gort.waitgroup()
    wg:add(n)
    for _ = 1, n do gort.go(function() wg:done() end) end
    wg:wait()
  end)
end

local function wrap_spawn(n)
  local c = 0
  for _ = 1, n do coroutine.wrap(function() c = c + 1 end)() end
end

local kernel = [[
  local work = ...
  local s = 0
  for i = 1, work do s = s + (i * i) % 7 end
  return s
]]

local function states(n, chunks, work)
  local st = {}
  local jobs = gort.chan(chunks, "int64")
  for c = 1, chunks do jobs:send(c) end
  jobs:close()
  local src = [[
    local gort = require "gort"
    local jobs, work = ...
    local f = load(]] .. string.format("%q", kernel) .. [[)
    local s = 0
    for _ in jobs:range() do s = s + f(work) end
    return s
  ]]
  for i = 1, n do st[i] = gort.state(src, jobs, work) end
  local total = 0
  for i = 1, n do total = total + st[i]:join() end
  return total
end

local N = 200000
local rows = {}
local function row(name, t, per, base_name, base_t)
  rows[#rows + 1] = string.format("%-34s %9.3f ms %9.1f ns/op%s", name, t * 1e3, t / per * 1e9,
    base_t and string.format("   %.2fx vs %s", base_t / t, base_name) or "")
end

local tp = median(function() plain_pingpong(N) end)
local tg = median(function() gort_pingpong(N) end)
row("ping-pong, plain Lua scheduler", tp, N)
row("ping-pong, gort.chan(0)", tg, N, "plain", tp)
local S = 200000
local tw = median(function() wrap_spawn(S) end)
local ts = median(function() gort_spawn(S) end)
row("spawn, coroutine.wrap + call", tw, S)
row("spawn, gort.go + waitgroup", ts, S, "wrap", tw)
local chunks, work = 16, 2000000
local t1 = median(function() states(1, chunks, work) end)
local t2 = median(function() states(2, chunks, work) end)
row("work in 1 state (" .. chunks .. " chunks)", t1, chunks)
row("work in 2 states", t2, chunks, "1 state", t1)
print(string.format("gort %s, Lua %s, %d procs, median of %d runs, load %s", gort.version,
  _VERSION, gort.procs(), runs, (io.open("/proc/loadavg"):read("l"))))
for _, r in ipairs(rows) do print(r) end
