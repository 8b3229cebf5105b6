-- The seed's Go worker pool (tests/seed/worker_pool.go) with gort's Lua
-- binding: 3 worker goroutines fed by a buffered jobs channel, results
-- collected after a wait-group closer. Prints what `go run` of the seed does.
local gort = require "gort"

-- worker processes incoming jobs from the jobs channel
local function worker(id, jobs, results, wg)
  for job in jobs:range() do
    print(string.format("Worker %d started job %d", id, job))
    gort.sleep(0.1) -- simulating an I/O task
    results:send(job * 2)
  end
  wg:done() -- signal completion when the worker exits
end

gort.run(function()
  local num_jobs = 5
  local jobs, results = gort.chan(num_jobs), gort.chan(num_jobs)
  local wg = gort.waitgroup()

  -- spin up 3 concurrent workers
  for w = 1, 3 do
    wg:add(1)
    gort.go(worker, w, jobs, results, wg)
  end

  -- send jobs to the channel
  for j = 1, num_jobs do jobs:send(j) end
  jobs:close() -- closing tells workers no more jobs are coming

  -- wait for all workers to finish in the background
  gort.go(function() wg:wait(); results:close() end)

  -- collect all results
  for res in results:range() do
    print(string.format("Result processed: %d", res))
  end
end)
