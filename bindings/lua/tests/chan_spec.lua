-- In-state channels, goroutines, select, timers, sync (busted).
local gort = require "gort"

describe("channels", function()
  it("are FIFO, carry nil, and report close", function()
    local ch = gort.chan(0)
    gort.go(function()
      for _, v in ipairs({ 1, "two", false }) do ch:send(v) end
      ch:send(nil); ch:send(5); ch:close()
    end)
    local got = {}
    gort.run(function()
      while true do
        local v, ok = ch:recv()
        if not ok then break end
        got[#got + 1] = v == nil and "nil" or v
      end
    end)
    assert.same({ 1, "two", false, "nil", 5 }, got)
  end)

  it("buffered: len, cap, try ops", function()
    local ch = gort.chan(2)
    assert.equal(2, ch:cap())
    assert.is_true(ch:try_send(nil)); assert.is_true(ch:try_send(2))
    assert.is_false(ch:try_send(3))
    assert.equal(2, #ch)
    assert.same({ nil, true }, { ch:try_recv() })
    assert.same({ 2, true }, { ch:try_recv() })
    assert.same({ nil, "empty" }, { ch:try_recv() })
    ch:close()
    assert.same({ nil, false }, { ch:try_recv() })
  end)

  it("send on a closed channel raises GORT_ECLOSED, also to a parked sender", function()
    local ch = gort.chan(0)
    ch:close()
    local ok, e = pcall(ch.send, ch, 1)
    assert.is_false(ok); assert.equal("GORT_ECLOSED", e.code)
    local c2 = gort.chan(0)
    local code
    gort.run(function()
      gort.go(function() local _, err = pcall(c2.send, c2, 1); code = err.code end)
      gort.sleep(0.01)
      c2:close()
      gort.sleep(0.01)
    end)
    assert.equal("GORT_ECLOSED", code)
    assert.equal("GORT_ECLOSED", select(2, pcall(c2.close, c2)).code)
  end)

  it("range ends at close", function()
    local ch = gort.chan(3)
    gort.go(function() for i = 1, 5 do ch:send(i) end ch:close() end)
    local sum = 0
    for v in ch:range() do sum = sum + v end   -- main chunk: drives the executor
    assert.equal(15, sum)
  end)

  it("deadlines return nil, 'timeout' on time", function()
    gort.run(function()
      local ch = gort.chan(0)
      local t0 = gort.now()
      assert.same({ nil, "timeout" }, { ch:recv(0.1) })
      local dt = gort.now() - t0
      assert.is_true(dt >= 0.1 and dt < 5, "waited " .. dt)
      assert.same({ nil, "timeout" }, { ch:send_until(1, 0.02) })
      assert.equal(0, ch:waiting()) -- timed-out waiters left the queues
      assert.same({ nil, "timeout" }, { ch:recv(0) })
    end)
  end)

  it("a 0.1 s sleep wakes once, after 0.1 s", function()
    local wakes = 0
    gort.run(function()
      local t0 = gort.now()
      gort.sleep(0.1); wakes = wakes + 1
      assert.is_true(gort.now() - t0 >= 0.1)
    end)
    assert.equal(1, wakes)
  end)

  it("recv inside pcall works", function()
    local ch = gort.chan(0)
    local r
    gort.run(function()
      gort.go(function() gort.sleep(0.01); ch:send("x") end)
      local ok, v = pcall(function() return ch:recv() end)
      r = { ok, v }
    end)
    assert.same({ true, "x" }, r)
  end)

  it("recv where Lua cannot yield is a clear error", function()
    local ch = gort.chan(0)
    local err
    gort.run(function()
      -- (Lua 5.4 metamethods can yield; C callers without continuation cannot)
      local ok, e = pcall(string.gsub, "a", "a", function() return ch:recv() end)
      assert.is_false(ok); err = e
      local ok2, e2 = pcall(table.sort, { 3, 2, 1 }, function(a, b) ch:recv(); return a < b end)
      assert.is_false(ok2); assert.matches("cannot block here", e2)
    end)
    assert.matches("cannot block here", err)
    assert.equal(0, ch:waiting())
  end)

  it("blocking in a nested coroutine is refused", function()
    local ch = gort.chan(0)
    gort.run(function()
      local co = coroutine.wrap(function() return pcall(ch.recv, ch) end)
      local ok, e = co()
      assert.is_false(ok); assert.matches("not a gort goroutine", e)
    end)
  end)

  it("10^4 goroutines ping-pong", function()
    local n, rounds = 10000, 10
    local total = 0
    gort.run(function()
      local wg = gort.waitgroup()
      for _ = 1, n / 2 do
        local a, b = gort.chan(0), gort.chan(0)
        wg:add(2)
        gort.go(function() for i = 1, rounds do a:send(i); b:recv() end wg:done() end)
        gort.go(function()
          for _ = 1, rounds do local v = a:recv(); total = total + v; b:send(v) end
          wg:done()
        end)
      end
      wg:wait()
    end)
    assert.equal(n / 2 * rounds * (rounds + 1) / 2, total)
  end)

  it("deadlock is reported", function()
    local ok, e = pcall(gort.run, function() gort.chan(0):recv() end)
    assert.is_false(ok); assert.matches("all goroutines are asleep %- deadlock!", e)
    local ok2, e2 = pcall(function() gort.chan(0):send(1) end)
    assert.is_false(ok2); assert.matches("deadlock", e2)
  end)
end)

describe("select", function()
  it("picks a ready case, times out, and zero timeout queues nothing", function()
    gort.run(function()
      local a, b = gort.chan(1), gort.chan(1)
      b:send("B")
      assert.same({ 2, "B", true }, { gort.select({ { "recv", a }, { "recv", b } }) })
      assert.same({ nil, "timeout" }, { gort.select({ { "recv", a }, { "recv", b } }, 0) })
      assert.equal(0, a:waiting() + b:waiting())
      assert.same({ nil, "timeout" }, { gort.select({ { "recv", a }, { "send", gort.chan(0), 1 } }, 0.02) })
      assert.equal(0, a:waiting())
      assert.same({ 1, nil, true }, { gort.select({ { "send", a, 9 }, { "recv", nil } }) })
      assert.equal(9, a:recv())
    end)
  end)

  it("losers unregister", function()
    gort.run(function()
      local a, b, c = gort.chan(0), gort.chan(0), gort.chan(0)
      gort.go(function() gort.sleep(0.01); b:send("win") end)
      for _ = 1, 100 do
        local i, v = gort.select({ { "recv", a }, { "recv", b }, { "recv", c } }, 0.001)
        if i then assert.equal(2, i); assert.equal("win", v) end
      end
      assert.equal(0, a:waiting() + b:waiting() + c:waiting())
    end)
  end)

  it("is fair among ready cases", function()
    gort.run(function()
      local a, b = gort.chan(1000), gort.chan(1000)
      for i = 1, 1000 do a:send(i); b:send(i) end
      local hits = { 0, 0 }
      for _ = 1, 1000 do local i = gort.select({ { "recv", a }, { "recv", b } }); hits[i] = hits[i] + 1 end
      assert.is_true(hits[1] > 350 and hits[2] > 350)
    end)
  end)

  it("wakes a parked select by send and by close", function()
    gort.run(function()
      local a, b = gort.chan(0), gort.chan(0)
      gort.go(function() gort.sleep(0.01); a:close() end)
      assert.same({ 1, nil, false }, { gort.select({ { "recv", a }, { "recv", b } }) })
      gort.go(function() assert.equal(5, b:recv()) end)
      assert.same({ 2, nil, true }, { gort.select({ { "recv", gort.chan(0) }, { "send", b, 5 } }) })
    end)
  end)

  it("after() delivers once", function()
    gort.run(function()
      local t = gort.after(0.02)
      local i = gort.select({ { "recv", gort.chan(0) }, { "recv", t } })
      assert.equal(2, i)
    end)
  end)
end)

describe("sync", function()
  it("mutex serializes and hands over FIFO", function()
    local mu, order, inside, max = gort.mutex(), {}, 0, 0
    gort.run(function()
      local wg = gort.waitgroup()
      for i = 1, 5 do
        wg:add(1)
        gort.go(function()
          mu:lock(); inside = inside + 1; max = math.max(max, inside)
          gort.sleep(0.001); order[#order + 1] = i; inside = inside - 1; mu:unlock(); wg:done()
        end)
      end
      wg:wait()
    end)
    assert.equal(1, max); assert.same({ 1, 2, 3, 4, 5 }, order)
    assert.is_true(mu:trylock()); assert.is_false(mu:trylock()); mu:unlock()
    assert.has_error(function() mu:unlock() end)
  end)

  it("once runs once; latecomers wait for it", function()
    local o, runs, seen = gort.once(), 0, 0
    gort.run(function()
      local wg = gort.waitgroup()
      for _ = 1, 4 do
        wg:add(1)
        gort.go(function() o(function() gort.sleep(0.01); runs = runs + 1 end); seen = seen + runs; wg:done() end)
      end
      wg:wait()
    end)
    assert.equal(1, runs); assert.equal(4, seen)
  end)

  it("waitgroup refuses a negative counter", function()
    assert.has_error(function() gort.waitgroup():done() end)
  end)
end)

describe("errors and collection", function()
  it("an error in a goroutine goes to on_error with a traceback; others keep running", function()
    local reports, after = {}, false
    local saved = gort.on_error
    gort.on_error = function(err, tb) reports[#reports + 1] = { err, tb } end
    gort.run(function()
      gort.go(function() local function inner() error("boom") end inner() end)
      gort.go(function() error({ code = "X" }) end)
      gort.sleep(0.01)
      after = true
    end)
    gort.on_error = saved
    assert.is_true(after)
    assert.equal(2, #reports)
    assert.matches("boom", reports[1][1]); assert.matches("inner", reports[1][2])
    assert.equal("X", reports[2][1].code)
  end)

  it("gort.run raises the main function's error", function()
    local ok, e = pcall(gort.run, function() error("main failed") end)
    assert.is_false(ok); assert.matches("main failed", e)
  end)

  it("parked goroutines on unreachable channels are collected; __close runs", function()
    collectgarbage(); collectgarbage()
    local base = gort.count()
    local closed = 0
    gort.run(function()
      for _ = 1, 1000 do
        local ch = gort.chan(0)
        gort.go(function()
          local guard <close> = setmetatable({}, { __close = function() closed = closed + 1 end })
          ch:recv()
        end)
      end
      gort.yield()
    end)
    assert.is_true(gort.count() >= base + 1000)
    for _ = 1, 4 do collectgarbage() end
    assert.equal(base, gort.count())
    assert.equal(1000, closed)
  end)

  it("a goroutine parked on a reachable channel is not collected", function()
    local ch = gort.chan(0)
    local got
    gort.go(function() got = ch:recv() end)
    gort.yield()
    for _ = 1, 3 do collectgarbage() end
    ch:send("still here")
    gort.yield()
    assert.equal("still here", got)
  end)
end)

describe("forwarding", function()
  it("b:send(a:recv()) forwards the value (the extra ok is ignored)", function()
    gort.run(function()
      local a, b = gort.chan(1), gort.chan(1)
      a:send("v")
      b:send(a:recv())
      assert.same({ "v", true }, { b:recv() })
      assert.has_error(function() a:recv("soon") end)
    end)
  end)
end)
