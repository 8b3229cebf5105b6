-- One C host, Lua and Python on one engine (bindings/lua/polyglot/polyglot.c).
-- The lua stage builds it and sets GORT_POLYGLOT (the binary) and
-- GORT_POLYGLOT_PYTHONPATH (a venv's site-packages with the Python binding).
describe("polyglot host", function()
  local bin = os.getenv("GORT_POLYGLOT")
  if not bin then
    pending("GORT_POLYGLOT not set: the polyglot host was not built (no libpython)")
    return
  end
  it("pipes C -> Lua -> Python -> C, every value checked", function()
    local pp = os.getenv("GORT_POLYGLOT_PYTHONPATH") or ""
    local p = assert(io.popen("PYTHONPATH='" .. pp .. "' '" .. bin .. "' 2>&1"))
    local out = p:read("a")
    local ok = p:close()
    assert.is_true(ok, out)
    assert.matches("polyglot: 2000 values C %-> Lua %(v%*v%) %-> Python %(%+1%) %-> C, 0 wrong, lua ok", out)
  end)
end)
