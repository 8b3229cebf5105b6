-- gort.native over gort_sig_new / gort_call / gort_call_async (busted).
local gort = require "gort"

describe("native calls", function()
  local libm, libc = gort.native("libm.so.6"), gort.native("libc.so.6")
  local pow = libm:func("double pow(double, double)")

  it("call synchronously with converted arguments and results", function()
    assert.equal(1024.0, pow(2, 10))
    local llabs = libc:func("long long llabs(long long)")
    assert.equal(math.maxinteger, llabs(-math.maxinteger))
    assert.equal("integer", math.type(llabs(-5)))
    local strlen = libc:func("size_t strlen(const char *)")
    assert.equal(5, strlen("hello"))
    local getenv = libc:func("char *getenv(const char *)")
    assert.is_nil(getenv("GORT_SURELY_NOT_SET_4711"))
    assert.equal(os.getenv("HOME"), getenv("HOME"))
  end)

  it("async returns a promise awaited by goroutines and the main chunk", function()
    assert.equal(8.0, pow:async(2, 3):await())
    local sum = 0
    gort.run(function()
      local ps = {}
      for i = 1, 100 do ps[i] = pow:async(i, 2) end
      for i = 1, 100 do sum = sum + ps[i]:await() end
      local all = gort.Promise.all({ pow:async(2, 1), pow:async(2, 2) }):await()
      assert.same({ 2.0, 4.0, n = 2 }, all)
      assert.equal(10.0, pow:async(3, 2):next(function(v) return v + 1 end):await())
    end)
    assert.equal(338350.0, sum)
  end)

  it("bad input is a clear error", function()
    assert.matches("takes 2 argument", select(2, pcall(pow, 1)))
    assert.matches("expected", select(2, pcall(pow, "x", 1)))
    assert.matches("no symbol 'nosuch'", select(2, pcall(libm.func, libm, "double nosuch(double)")))
    assert.matches("bad declaration", select(2, pcall(libm.func, libm, "double pow(double,")))
    assert.matches("function name", select(2, pcall(libm.func, libm, "double (double)")))
    assert.matches("gort.native", select(2, pcall(gort.native, "/nonexistent/libx.so")))
    local labs = libc:func("long labs(long)")
    assert.matches("an integer for", select(2, pcall(labs, 1.5)))
  end)
end)
