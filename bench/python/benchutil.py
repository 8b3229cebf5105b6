"""Helpers shared by the Python benchmarks (bench/python/py_*.py).

Like the C benchmarks (bench/bench.h) and their Go twins, every script does
its work once and prints one line per metric on stdout:

    RESULT <metric>=<value> <unit>

which bench/run_py.py parses (through run.py's run_once). Diagnostics go to
stderr. usage: py_<name>.py <side> [sizes...], side one of SIDES.
"""
import sys

SIDES = ("gort", "asyncio", "threading")


def die(msg):
    sys.stdout.flush()
    print(f"bench: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(2)


def side(sides=SIDES):
    """argv[1]: which implementation to run."""
    if len(sys.argv) < 2 or sys.argv[1] not in sides:
        die(f"usage: {sys.argv[0]} {{{'|'.join(sides)}}} [sizes...]")
    return sys.argv[1]


def arg(i, default):
    """Optional positional argument i (argv[i], 2 = first size) as a positive int."""
    if len(sys.argv) > i and sys.argv[i] != "":
        try:
            v = int(sys.argv[i], 0)
        except ValueError:
            v = 0
        if v <= 0:
            die(f"bad argument {i}: {sys.argv[i]!r} (want a positive integer)")
        return v
    return default


def result(metric, value, unit):
    print(f"RESULT {metric}={value:.6g} {unit}", flush=True)
