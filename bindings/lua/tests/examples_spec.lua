-- The Lua examples print what the seed programs print (busted).
local root = "../../.."

local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok, code
end

local function lines(s)
  local t = {}
  for l in s:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

-- The seed's lines with worker ids blanked (which worker takes which job
-- varies in Go too), sorted: the multiset both programs must print.
local function normalized(ls)
  local t = {}
  for i, l in ipairs(ls) do t[i] = (l:gsub("^Worker %d+", "Worker _")) end
  table.sort(t)
  return t
end

local function check_worker_pool(ls)
  local expect = {}
  for j = 1, 5 do
    expect[#expect + 1] = "Worker _ started job " .. j
    expect[#expect + 1] = "Result processed: " .. 2 * j
  end
  table.sort(expect)
  assert.same(expect, normalized(ls))
  local started, last_job = {}, {}
  for i, l in ipairs(ls) do
    local w, j = l:match("^Worker (%d+) started job (%d+)$")
    if w then
      w, j = tonumber(w), tonumber(j)
      assert.is_true(w >= 1 and w <= 3)
      assert.is_true((last_job[w] or 0) < j, "a worker takes jobs in channel order")
      last_job[w], started[j] = j, i
    else
      local r = tonumber(l:match("^Result processed: (%d+)$"))
      assert.is_truthy(started[r // 2], "a result after its job started: " .. l)
    end
  end
end

describe("examples", function()
  it("seed_worker_pool.lua prints the seed's lines", function()
    local out, ok = run("lua5.4 " .. root .. "/examples/seed_worker_pool.lua")
    assert.is_true(ok, out)
    check_worker_pool(lines(out))
    local go = os.getenv("GORT_GO") or "/usr/local/go/bin/go"
    local f = io.open(go)
    if f then
      f:close()
      local gout, gok = run("cd " .. root .. " && " .. go .. " run tests/seed/worker_pool.go")
      assert.is_true(gok, gout)
      assert.same(normalized(lines(gout)), normalized(lines(out)))
    end
  end)
end)

describe("examples", function()
  it("seed_promise_all.lua prints exactly what node prints", function()
    local out, ok = run("lua5.4 " .. root .. "/examples/seed_promise_all.lua")
    assert.is_true(ok, out)
    local expect = "Worker 1 started job 1\nWorker 2 started job 2\nWorker 3 started job 3\n" ..
      "Worker 1 started job 4\nWorker 2 started job 5\nResult processed: 2\nResult processed: 4\n" ..
      "Result processed: 6\nResult processed: 8\nResult processed: 10\n"
    assert.equal(expect, out)
    local nf = io.open("/usr/bin/node")
    if nf then
      nf:close()
      local nout, nok = run("cd " .. root .. " && node tests/seed/promise_all.js")
      assert.is_true(nok, nout)
      assert.equal(nout, out)
    end
  end)
end)
