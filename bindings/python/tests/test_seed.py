"""The Python port of the seed's Go program (examples/worker_pool.py) prints
what `go run tests/seed/worker_pool.go` prints (tests/seed/check_output.py
says what that means under Go's scheduling freedom)."""
import os
import subprocess
import sys

from conftest import _pythonpath_env

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
CHECK = os.path.join(ROOT, "tests", "seed", "check_output.py")


def test_worker_pool_example_prints_the_seed_lines():
    cp = subprocess.run([sys.executable, CHECK, "worker_pool", "--run", sys.executable,
                         os.path.join(ROOT, "examples", "worker_pool.py")],
                        capture_output=True, text=True, timeout=150, env=_pythonpath_env())
    assert cp.returncode == 0, cp.stdout + cp.stderr


def test_the_checker_refuses_a_wrong_output(tmp_path):
    bad = tmp_path / "bad.out"
    bad.write_text("Worker 1 started job 1\nResult processed: 2\n")   # four jobs missing
    cp = subprocess.run([sys.executable, CHECK, "worker_pool", str(bad)], capture_output=True, text=True)
    assert cp.returncode == 1 and "job 2 never started" in cp.stdout


def test_promise_all_example_prints_the_seed_output():
    cp = subprocess.run([sys.executable, CHECK, "promise_all", "--run", sys.executable,
                         os.path.join(ROOT, "examples", "promise_all.py")],
                        capture_output=True, text=True, timeout=150, env=_pythonpath_env())
    assert cp.returncode == 0, cp.stdout + cp.stderr
