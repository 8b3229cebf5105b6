-- Work split over N Lua states (each its own executor on gort's engine, so
-- they run on all cores), results gathered over a shared channel; prints
-- the speed-up over doing the same work in one state.
--   lua5.4 examples/parallel_states.lua [states] [chunks] [work]
local gort = require "gort"

local nstates = tonumber(arg and arg[1]) or gort.procs()
local nchunks = tonumber(arg and arg[2]) or 8
local work = tonumber(arg and arg[3]) or 2000000

-- The work: sum of i*i mod 7 over a range (pure Lua, CPU bound).
local kernel = [[
  local gort = require "gort"
  local jobs, results, work = ...
  for chunk in jobs:range() do
    local s = 0
    for i = chunk * work + 1, (chunk + 1) * work do s = s + (i * i) % 7 end
    results:send({ chunk = chunk, sum = s })
  end
]]

local function run(n)
  local jobs, results = gort.chan(nchunks, "int64"), gort.chan(nchunks, "value")
  local t0 = gort.now()
  local states = {}
  for i = 1, n do states[i] = gort.state(kernel, jobs, results, work) end
  for c = 0, nchunks - 1 do jobs:send(c) end
  jobs:close()
  local total = 0
  for _ = 1, nchunks do total = total + results:recv().sum end
  for i = 1, n do states[i]:join() end
  return total, gort.now() - t0
end

local total1, t1 = run(1)
local totaln, tn = run(nstates)
assert(total1 == totaln, "results differ")
print(string.format("sum %d over %d chunks of %d", totaln, nchunks, work))
print(string.format("1 state: %.3f s; %d states: %.3f s; speed-up %.2fx", t1, nstates, tn, t1 / tn))
