-- The seed's JavaScript program (tests/seed/promise_all.js) with gort's Lua
-- promises: five async workers started at once, Promise.all awaited.
-- Prints what `node tests/seed/promise_all.js` does.
local gort = require "gort"

-- simulating an asynchronous job
local function worker(id, job)
  print(string.format("Worker %d started job %d", id, job))
  gort.sleep(0.1) -- simulating an I/O task with a non-blocking timer
  return job * 2
end

gort.run(function()
  local jobs = { 1, 2, 3, 4, 5 }
  -- map the jobs into concurrent promises, all started at once
  local promises = {}
  for index, job in ipairs(jobs) do
    local worker_id = (index - 1) % 3 + 1 -- distribute across 3 simulated workers
    promises[index] = gort.async(worker, worker_id, job)
  end
  -- wait for all of them and collect the results
  local results = gort.Promise.all(promises):await()
  for _, res in ipairs(results) do print(string.format("Result processed: %d", res)) end
end)
