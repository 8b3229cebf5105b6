-- gort.Promise over gort_promise (busted).
local gort = require "gort"
local P = gort.Promise

describe("promises", function()
  it("then chains, passes through, adopts, catches", function()
    gort.run(function()
      local p = P.new(function(resolve) resolve(20) end)
      local q = p:next(function(v) return v + 1 end):next(nil, function() return "no" end)
      assert.equal(21, q:await())
      local adopted = P.resolve(1):next(function() return gort.async(function() gort.sleep(0.01); return "later" end) end)
      assert.equal("later", adopted:await())
      local caught = P.reject("bad"):next(function() return "skipped" end):catch(function(e) return "caught " .. e end)
      assert.equal("caught bad", caught:await())
      local failing = P.resolve(1)["then"](P.resolve(1), function() error("handler failed", 0) end)
      local ok, e = pcall(failing.await, failing)
      assert.is_false(ok); assert.equal("handler failed", e)
      assert.equal("rejected", failing:state())
    end)
  end)

  it("reactions never run synchronously and in registration order", function()
    local order = {}
    gort.run(function()
      local p = P.resolve("v")
      local a = p:next(function() order[#order + 1] = "a" end)
      local b = p:next(function() order[#order + 1] = "b" end)
      order[#order + 1] = "sync"
      a:await(); b:await()
    end)
    assert.same({ "sync", "a", "b" }, order)
  end)

  it("all collects in input order and rejects like the first rejection", function()
    gort.run(function()
      local ps = {}
      for i = 1, 5 do ps[i] = gort.async(function() gort.sleep(0.001 * (6 - i)); return i * i end) end
      assert.same({ 1, 4, 9, 16, 25, n = 5 }, P.all(ps):await())
      local bad = P.all({ P.resolve(1), P.reject("second"), P.resolve(3) })
      assert.equal("second", select(2, pcall(bad.await, bad)))
      assert.same({ n = 0 }, P.all({}):await())
    end)
  end)

  it("await works from the main chunk and values are copies", function()
    local t = { 1, { 2 } }
    local p = P.resolve(t)
    local got = p:await()
    assert.same(t, got); assert.are_not.equal(t, got)
    local settled = P.new(function(resolve, reject) resolve(1); reject("ignored"); resolve(2) end)
    assert.equal(1, settled:await())
    local thrower = P.new(function() error("in executor", 0) end)
    assert.equal("in executor", select(2, pcall(thrower.await, thrower)))
  end)
end)
