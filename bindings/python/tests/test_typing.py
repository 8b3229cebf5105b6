"""The stubs (gort/__init__.pyi) against the runtime (mypy's stubtest), and
`mypy --strict` on the examples and on a sample that must be rejected.
mypy is one of the venv's tools (scripts/python-env.sh): not skipped."""
import os
import subprocess
import sys
import textwrap

import pytest

import gort

# The ASan+UBSan run of the suite (scripts/test-all.sh python_asan) preloads
# the sanitizer runtimes into every child: typing is checked by the normal
# runs (one per CPython version), not again under the sanitizers.
pytestmark = pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                                reason="typing is checked in the non-sanitizer runs")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
EXAMPLES = [os.path.join(ROOT, "examples", f) for f in ("worker_pool.py", "asyncio_bridge.py")]

# stubtest type-checks the implementation modules too (as if they were
# stubs): they are untyped, only the public stub is under test.
MYPY_INI = """\
[mypy]
[mypy-gort._core,gort._chan,gort._promise,gort._sync,gort._goroutine,gort._gort,gort._native]
ignore_errors = True
ignore_missing_imports = True
"""


def _mypy(args, tmp_path, module="mypy"):
    # cwd outside the checkout, so the installed gort (with its extension) is the one checked
    cp = subprocess.run([sys.executable, "-m", module] + args, cwd=str(tmp_path),
                        capture_output=True, text=True, timeout=600)
    return cp, cp.stdout + cp.stderr


def test_stubtest_passes(tmp_path):
    ini = tmp_path / "mypy.ini"
    ini.write_text(MYPY_INI)
    cp, out = _mypy(["gort", "--mypy-config-file", str(ini),
                     "--allowlist", os.path.join(HERE, "stubtest-allowlist.txt")],
                    tmp_path, module="mypy.stubtest")
    assert cp.returncode == 0, out
    assert "error" not in out, out
    assert gort.__file__  # the installed package is what stubtest imported (cwd: tmp_path)


def test_mypy_strict_on_the_examples(tmp_path):
    for path in EXAMPLES:
        assert os.path.exists(path), path
    cp, out = _mypy(["--strict", "--no-incremental"] + EXAMPLES, tmp_path)
    assert cp.returncode == 0, out
    assert "Success: no issues found in 2 source files" in out, out


def test_mypy_rejects_misuse_the_stubs_describe(tmp_path):
    # ParamSpec on go/spawn, Chan[T] element types, (value, ok) order.
    bad = tmp_path / "bad.py"
    bad.write_text(textwrap.dedent("""
        import gort
        def work(n: int, name: str) -> float:
            return n / 2
        gort.go(work, "not an int", "x")            # line 5: wrong argument type
        p: gort.Promise[str] = gort.spawn(work, 1, "x")   # line 6: Promise[float]
        ch: gort.Chan[int] = gort.Chan(1)
        ch.send("s")                                # line 8: not an int
        v, ok = ch.try_recv()
        reveal_type(v)                              # line 10
    """))
    cp, out = _mypy(["--strict", "--no-incremental", str(bad)], tmp_path)
    assert cp.returncode == 1, out
    lines = {int(line.split(":")[1]) for line in out.splitlines() if line.startswith("bad.py:")}
    assert lines == {5, 6, 8, 10}, out
    assert "Found 3 errors" in out, out
    assert any(t in out for t in ('Revealed type is "int | None"', 'Revealed type is "builtins.int | None"',
                                  'Revealed type is "Union[builtins.int, None]"')), out
