-- Shared (typed) channels, C threads, parallel states (busted).
local gort = require "gort"
local helper = require "gort_testhelper"

describe("shared channels", function()
  it("int64 round trips stay integers", function()
    local ch = gort.chan(8, "int64")
    for _, v in ipairs({ math.maxinteger, math.mininteger, 2 ^ 53 + 1 | 0, -1, 0 }) do
      ch:send(v)
      local r = ch:recv()
      assert.equal("integer", math.type(r)); assert.equal(v, r)
    end
    assert.has_error(function() ch:send(1.5) end)
    assert.has_error(function() ch:send("x") end)
    assert.equal("integer", math.type(gort.now_ns()))
  end)

  it("double, string and value kinds", function()
    local d, s, v = gort.chan(1, "double"), gort.chan(1, "string"), gort.chan(1, "value")
    d:send(0.25); assert.equal(0.25, d:recv())
    s:send("héllo"); assert.equal("héllo", s:recv())
    assert.has_error(function() s:send("a\0b") end)
    v:send({ 1, nil, "x", t = { true, 2.5 }, [10] = false })
    assert.same({ 1, nil, "x", t = { true, 2.5 }, [10] = false }, v:recv())
    v:send(nil); assert.same({ nil, true }, { v:recv() })
    local ok, e = pcall(v.send, v, print)
    assert.is_false(ok); assert.matches("a function cannot be copied", e)
    assert.is_false(pcall(v.send, v, gort.chan(0)))      -- in-state channels stay home
    local cyc = {}; cyc.self = cyc
    assert.matches("nested too deeply", select(2, pcall(v.send, v, cyc)))
    assert.equal(0, #v)
  end)

  it("block, time out, close from goroutines and the main chunk", function()
    local ch = gort.chan(0, "int64")
    gort.run(function()
      gort.go(function() gort.sleep(0.01); ch:send(42) end)
      assert.same({ 42, true }, { ch:recv() })
      assert.same({ nil, "timeout" }, { ch:recv(0.02) })
      assert.same({ nil, "timeout" }, { ch:send_until(1, 0.02) })
      gort.go(function() gort.sleep(0.01); ch:close() end)
      assert.same({ nil, false }, { ch:recv() })
      assert.equal("GORT_ECLOSED", select(2, pcall(ch.send, ch, 1)).code)
    end)
    assert.equal(0, gort._outstanding())
  end)

  it("select over shared channels, with timeout and zero timeout", function()
    local a, b = gort.chan(0, "int64"), gort.chan(1, "string")
    gort.run(function()
      assert.same({ nil, "timeout" }, { gort.select({ { "recv", a }, { "recv", b } }, 0) })
      gort.go(function() gort.sleep(0.01); b:send("hi") end)
      assert.same({ 2, "hi", true }, { gort.select({ { "recv", a }, { "recv", b } }) })
      assert.same({ nil, "timeout" }, { gort.select({ { "recv", a } }, 0.01) })
      assert.has_error(function() gort.select({ { "recv", a }, { "recv", gort.chan(0) } }) end)
    end)
    assert.equal(0, gort._outstanding())
  end)

  it("C threads send into a Lua goroutine under stress", function()
    local n, threads = 20000, 4
    local ch = gort.chan(16, "int64")
    helper.send_ints(ch:handle(), n, threads)
    local sum, count = 0, 0
    gort.run(function()
      local done = gort.chan(0)
      gort.go(function()
        for v in ch:range() do sum = sum + v; count = count + 1 end
        done:send(true)
      end)
      done:recv()
    end)
    assert.equal(n * threads, count)
    assert.equal(threads * n * (n + 1) // 2, sum)
  end)

  it("wraps a channel made by C", function()
    local ch = gort.chan(4, "int64")
    local same = gort.wrap_chan(ch:handle(), "int64")
    ch:send(5)
    assert.equal(5, same:recv())
    assert.is_true(ch == same)
  end)
end)

describe("gort.state", function()
  it("runs a chunk in parallel and returns copies", function()
    local st = gort.state("local a, b = ... return a + b, {x = a}", 2, 3)
    local s, t = st:join()
    assert.equal(5, s); assert.same({ x = 2 }, t)
  end)

  it("typed channels connect states", function()
    local jobs, results = gort.chan(0, "int64"), gort.chan(0, "value")
    local workers = {}
    for w = 1, 3 do
      workers[w] = gort.state([[
        local gort = require "gort"
        local id, jobs, results = ...
        for j in jobs:range() do results:send({ id = id, sq = j * j }) end
        return id
      ]], w, jobs, results)
    end
    local got = 0
    gort.run(function()
      gort.go(function() for j = 1, 30 do jobs:send(j) end jobs:close() end)
      for _ = 1, 30 do local r = results:recv(); got = got + r.sq end
    end)
    for w = 1, 3 do assert.equal(w, workers[w]:join()) end
    local expect = 0
    for j = 1, 30 do expect = expect + j * j end
    assert.equal(expect, got)
  end)

  it("reports errors, refused results and deadlocks of a state", function()
    assert.matches("bad thing", select(2, pcall(function() gort.state("error('bad thing')"):join() end)))
    assert.matches("cannot be copied", select(2, pcall(function() gort.state("return print"):join() end)))
    assert.matches("deadlock", select(2, pcall(function()
      gort.state("local gort = require 'gort'; gort.chan(0):recv()"):join() end)))
    assert.matches("cannot be copied", select(2, pcall(gort.state, "return 1", print)))
  end)

  it("a state ending with a goroutine parked on a shared channel cancels the wait", function()
    local ch = gort.chan(0, "int64")
    local st = gort.state([[
      local gort = require "gort"
      local ch = ...
      gort.go(function() ch:recv() end)
      gort.go(function() ch:send(7) end)
      gort.sleep(0.01)
      return "done"
    ]], gort.chan(0, "int64"))
    assert.equal("done", st:join())
    -- the process itself exits with a parked external wait (teardown at lua_close)
    local p = assert(io.popen("lua5.4 -e 'local g = require \"gort\"; local c = g.chan(0, \"int64\"); " ..
      "g.go(function() c:recv() end); g.yield(); print(g._outstanding())' 2>&1"))
    local out = p:read("a")
    assert.is_true(p:close(), out)
    assert.equal("1\n", out)
    assert.is_true(ch:try_send(1) == false)
  end)

  it("runs a file", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w")); f:write("return ... * 2"); f:close()
    assert.equal(42, gort.state(path, 21):join())
    os.remove(path)
  end)
end)
