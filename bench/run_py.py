#!/usr/bin/env python3
"""Python-binding benchmarks: gort (bindings/python) vs asyncio vs threading.

    python3 bench/run_py.py --build-dir build/release [--runs 5] [--filter py_]

bench/run.py calls this module for the benchmarks listed in PY_BENCHES,
after its other tables (skip them with run.py --no-python). Each benchmark is
one script, bench/python/<name>.py, that does the same work three ways and
takes the way as its first argument:

    <python> bench/python/<name>.py {gort|asyncio|threading} [sizes...]

All sides run under the same interpreter: the venv that
scripts/python-env.sh creates with the `gort` package installed,
build/python/venv-<X.Y>/bin/python (the newest one that imports gort;
--python or $GORT_BENCH_PYTHON to override). If there is none and
scripts/python-env.sh exists, it is run once to create one
(GORT_PYTHONS=newest); if `import gort` still fails, the table is skipped
with the reason. For every benchmark and every run:

  * the sides run one after the other in an order that rotates from run to
    run (so that machine noise hits all of them alike), with GORT_PROCS =
    the number of CPUs (or --procs);
  * each prints `RESULT <metric>=<value> <unit>` lines (run.py's run_once
    runs and parses them: crashes, timeouts, missing lines are reported,
    never raised);
  * py_hash_pool and py_hash_native run with 1 worker and with as many
    workers as CPUs (metrics ms@W1, ms@W<n>) and derive speedup =
    ms@W1 / ms@W<n> per run and per side;
  * medians go into a Markdown table
        benchmark | metric | gort | asyncio | threading | gort/asyncio |
        gort/threading | goal | met?
    and every raw run into <build-dir>/bench-py-results.json (the table also
    into bench-py-results.md).

Goals (PY_GOALS): ("ratio", x): gort/asyncio <= x on a time (lower is
better); ("min_per_worker", x): the gort value >= x * workers; None:
informational. The exit status is 0 unless the script was misused.
"""

import argparse
import datetime
import glob
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY_DIR = os.path.join(HERE, "python")
ENV_SCRIPT = os.path.join(ROOT, "scripts", "python-env.sh")

sys.path.insert(0, HERE)
import run as run_base  # noqa: E402  (shared runner, table and output helpers)

ALL = "all"  # workers placeholder: the number of CPUs (or --procs)
SIDES = ("gort", "asyncio", "threading")


class PyBench:
    def __init__(self, name, sides=SIDES, args=(), workers=None, timeout=180):
        self.name = name          # bench/python/<name>.py
        self.sides = tuple(sides)
        self.args = list(args)    # sizes, after the side
        self.workers = workers    # None, or worker counts appended to args (1, ALL)
        self.timeout = timeout


PY_BENCHES = [
    PyBench("py_pingpong", args=[50_000]),
    PyBench("py_spawn", sides=("gort", "asyncio"), args=[100_000]),
    PyBench("py_hash_pool", args=[800], workers=(1, ALL)),
    PyBench("py_hash_native", args=[160], workers=(1, ALL)),
    # issue 11: native calls (gort.native): no asyncio twin
    PyBench("py_native_crc32", sides=("gort", "threading"), args=[64, 4]),
    PyBench("py_native_call", sides=("gort",), args=[200_000, 5_000]),
]

# Keyed by "bench/metric"; "bench/*" covers the benchmark's other metrics.
PY_GOALS = {
    "py_pingpong/*": ("ratio", 0.25),
    "py_spawn/*": ("ratio", 0.5),
    "py_hash_pool/speedup": ("min_per_worker", 0.8),
    "py_hash_pool/*": None,
    "py_hash_native/speedup": ("min_per_worker", 0.8),
    "py_hash_native/*": None,
    # speed-up over serial zlib.crc32 in the same process (goal for 2 cores)
    "py_native_crc32/speedup": ("min_per_worker", 1.8),
    "py_native_crc32/*": None,
    "py_native_call/*": None,
}

log = run_base.log


def names():
    return [b.name for b in PY_BENCHES]


def select(pats):
    return run_base.matching(PY_BENCHES, pats)


def goal_for(bench, metric):
    key = f"{bench}/{metric}"
    if key in PY_GOALS:
        return PY_GOALS[key]
    base = metric.split("@")[0]
    if f"{bench}/{base}" in PY_GOALS:
        return PY_GOALS[f"{bench}/{base}"]
    return PY_GOALS.get(f"{bench}/*")


def fmt_goal(goal, workers):
    if goal is None:
        return "—"
    kind, x = goal
    if kind == "ratio":
        return f"≤ {x:g} vs asyncio"
    return f"≥ {x * workers:g} (abs)"


def judge(goal, value, ratio, workers):
    if goal is None:
        return "—"
    kind, x = goal
    if kind == "ratio":
        return "n/a" if ratio is None else ("yes" if ratio <= x else "NO")
    return "n/a" if value is None else ("yes" if value >= x * workers else "NO")


# ---- the interpreter -------------------------------------------------------------

def venv_pythons():
    """build/python/venv-<X.Y>/bin/python, newest version first."""
    found = []
    for path in glob.glob(os.path.join(ROOT, "build", "python", "venv-*", "bin", "python")):
        m = re.search(r"venv-(\d+)\.(\d+)", path)
        if m and os.access(path, os.X_OK):
            found.append(((int(m.group(1)), int(m.group(2))), path))
    return [p for _, p in sorted(found, reverse=True)]


def probe(python):
    """(version string, '') if `import gort` works under python, else (None, reason)."""
    code = ("import sys, gort; gort.go; gort.Chan; gort.go_native; "
            "print('%d.%d.%d' % sys.version_info[:3], gort.__version__)")
    try:
        p = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"{python}: {e}"
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
        return None, f"{python}: import gort failed: {last[:300]}"
    py, _, gv = p.stdout.strip().partition(" ")
    return f"Python {py}, gort {gv}", ""


def find_python(explicit=None, create=True):
    """(python, description, '') or (None, None, reason)."""
    if explicit or os.environ.get("GORT_BENCH_PYTHON"):
        py = explicit or os.environ["GORT_BENCH_PYTHON"]
        desc, err = probe(py)
        return (py, desc, "") if desc else (None, None, err)
    cands = venv_pythons()
    if not cands and create and os.path.isfile(ENV_SCRIPT):
        log(f"  no build/python/venv-*: creating it with {os.path.relpath(ENV_SCRIPT, ROOT)} ...")
        try:
            env = dict(os.environ)
            env.setdefault("GORT_PYTHONS", "newest")  # one venv is enough here
            p = subprocess.run(["bash", ENV_SCRIPT], cwd=ROOT, capture_output=True, text=True,
                               timeout=1800, stdin=subprocess.DEVNULL, env=env)
            if p.returncode != 0:
                log("  python-env.sh failed: " + (p.stderr.strip() or p.stdout.strip())[-500:])
        except (OSError, subprocess.TimeoutExpired) as e:
            log(f"  python-env.sh failed: {e}")
        cands = venv_pythons()
    if not cands:
        why = "no build/python/venv-*/bin/python"
        why += (" (scripts/python-env.sh did not create one)" if os.path.isfile(ENV_SCRIPT)
                else " and no scripts/python-env.sh to create it")
        return None, None, why
    errs = []
    for py in cands:
        desc, err = probe(py)
        if desc:
            return py, desc, ""
        errs.append(err)
    return None, None, "; ".join(errs)


# ---- running and reporting -------------------------------------------------------

def configs(b, procs):
    """[(suffix, extra args)]: one entry unless the benchmark varies its workers."""
    if not b.workers:
        return [("", [])]
    ws = [procs if w == ALL else w for w in b.workers]
    ws = sorted(set(ws), key=ws.index)
    if len(ws) == 1:
        return [("", [ws[0]])]
    return [(f"@W{w}", [w]) for w in ws]


def side_metrics(b, res, side, cfgs):
    """{metric: ([values], unit)} for one side, per config, plus the derived
    speedup (ms@W1 / ms@W<n> of the same run) when there are two configs."""
    runs = res[side]["runs"]
    table = {}
    for suffix, _ in cfgs:
        for k, (v, u) in run_base.metric_values([r for r in runs if r["cfg"] == suffix]).items():
            table[k + suffix] = (v, u)
    if len(cfgs) == 2:
        (s1, _), (sn, _) = cfgs
        by_run = {}
        for r in runs:
            if r["status"] == "ok" and "ms" in r["metrics"]:
                by_run.setdefault(r["run"], {})[r["cfg"]] = r["metrics"]["ms"]["value"]
        sp = [d[s1] / d[sn] for _, d in sorted(by_run.items())
              if s1 in d and sn in d and d[sn] > 0]
        if sp:
            table["speedup"] = (sp, "x")
    return table


def build_table(benches, results, procs):
    lines = ["| benchmark | metric | gort (median) | asyncio (median) | threading (median) "
             "| gort/asyncio | gort/threading | goal | met? |",
             "|---|---|---|---|---|---|---|---|---|"]
    rows = []
    for b in benches:
        res = results[b.name]
        cfgs = res["configs"]
        workers = cfgs[-1][1][0] if b.workers else 1
        notes = {s: run_base.summarize_side(res[s]) for s in SIDES}
        per = {s: side_metrics(b, res, s, cfgs) for s in SIDES}
        metrics = []
        for s in ("asyncio", "gort", "threading"):
            for k in per[s]:
                if k not in metrics:
                    metrics.append(k)
        if not metrics:
            cells = " | ".join(notes[s] or "—" for s in SIDES)
            lines.append(f"| {b.name} | — | {cells} | — | — | "
                         f"{fmt_goal(goal_for(b.name, '*'), workers)} | — |")
            rows.append({"bench": b.name, "metric": None,
                         **{f"{s}_status": notes[s] for s in SIDES}})
            continue
        for k in metrics:
            unit = next((per[s][k][1] for s in SIDES if k in per[s]), "")
            vals = {s: per[s].get(k, ([], ""))[0] for s in SIDES}
            m = {s: statistics.median(vals[s]) if vals[s] else None for s in SIDES}
            cells = [run_base.median_cell(m[s], unit, notes[s]) for s in SIDES]
            ratios = {}
            for other in ("asyncio", "threading"):
                ok = k != "speedup" and m["gort"] is not None and m[other]
                ratios[other] = m["gort"] / m[other] if ok else None
            goal = goal_for(b.name, k)
            met = judge(goal, m["gort"], ratios["asyncio"], workers)
            if m["gort"] is None and goal is not None and notes["gort"]:
                met = "NO (failed)"
            rcells = ["—" if ratios[o] is None else f"{ratios[o]:.2f}"
                      for o in ("asyncio", "threading")]
            lines.append(f"| {b.name} | {k} | {' | '.join(cells)} | {' | '.join(rcells)} | "
                         f"{fmt_goal(goal, workers)} | {met} |")
            rows.append({"bench": b.name, "metric": k, "unit": unit,
                         **{f"{s}_median": m[s] for s in SIDES},
                         **{f"{s}_values": vals[s] for s in SIDES},
                         "gort_vs_asyncio": ratios["asyncio"],
                         "gort_vs_threading": ratios["threading"],
                         "goal": fmt_goal(goal, workers), "met": met,
                         **{f"{s}_status": notes[s] for s in SIDES}})
    return "\n".join(lines), rows


def run(build_dir, runs, pats, procs, timeout=0, json_path=None, wait_quiet=0, python=None):
    """Run the matching Python benchmarks; print the table; returns 0."""
    benches = select(pats)
    if not benches:
        return 0
    build_dir = os.path.abspath(build_dir)
    started = datetime.datetime.now().astimezone()
    title = "gort vs asyncio/threading (Python binding)"
    py, desc, why = find_python(python)
    if py is None:
        log(f"Python benchmarks skipped: {why}")
        print(f"{title} — skipped: {why}")
        sys.stdout.flush()
        return 0
    log(f"gort Python benchmarks (vs asyncio, threading): {len(benches)} benchmark(s), "
        f"{runs} run(s) per side, GORT_PROCS = {procs}, {py} ({desc})")
    # py_hash_native builds its C helper here (see bench/python/py_hash_native.py).
    os.environ["GORT_BENCH_PY_BUILD"] = os.path.join(build_dir, "bench-py")
    load_start = run_base.loadavg()
    results = {}
    for b in benches:
        if wait_quiet > 0:
            run_base.wait_quiet(wait_quiet, 0.5 * (os.cpu_count() or 1))
        script = os.path.join(PY_DIR, b.name + ".py")
        cfgs = configs(b, procs)
        res = {"name": b.name, "procs": procs, "python": py, "configs": cfgs}
        for s in SIDES:
            res[s] = {"runs": []}
            if s not in b.sides:
                res[s]["error"] = "no twin"
            elif not os.path.isfile(script):
                res[s]["error"] = "no script"
        t = timeout or b.timeout
        gave_up = set()
        sides = [s for s in b.sides if not res[s].get("error")]
        for i in range(runs):
            k = i % len(sides) if sides else 0
            order = sides[k:] + sides[:k]
            for suffix, extra in cfgs:
                for s in order:
                    if s in gave_up:
                        continue
                    args = [script, s] + b.args + extra
                    rec = run_base.run_logged(f"{b.name + suffix:<16} {s:<9}", py, args, procs,
                                              t, i, runs)
                    rec["cfg"] = suffix
                    res[s]["runs"].append(rec)
                    if rec["status"].startswith("timeout"):
                        gave_up.add(s)
        results[b.name] = res
    load_end = run_base.loadavg()
    table, rows = build_table(benches, results, procs)
    header = (f"{title} — {started:%Y-%m-%d %H:%M}, {desc}, median of {runs} run(s) per side, "
              f"GORT_PROCS = {procs}; load average {load_start} at start, {load_end} at end")
    out_json = json_path or os.path.join(build_dir, "bench-py-results.json")
    run_base.report_side_table(header, table, rows, results, PY_GOALS, out_json, started, runs,
                               procs, load_start, load_end)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default="build/release")
    ap.add_argument("--runs", type=int, default=5, help="runs per side (default 5)")
    ap.add_argument("--filter", default="", help="substring(s) of benchmark names, comma = or")
    ap.add_argument("--procs", type=int, default=0,
                    help="GORT_PROCS and the hash pools' many-worker count (default: CPUs)")
    ap.add_argument("--timeout", type=float, default=0, help="seconds per run")
    ap.add_argument("--json", default=None)
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                    help="before each benchmark, wait up to S s for a quiet machine")
    ap.add_argument("--python", default=None,
                    help="interpreter with gort installed (default: newest build/python/venv-*)")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    status, pats = run_base.runner_selection(ap, args, PY_BENCHES, "Python")
    if status is not None:
        return status
    return run(args.build_dir, args.runs, pats, args.procs or os.cpu_count() or 1,
               timeout=args.timeout, json_path=args.json, wait_quiet=args.wait_quiet,
               python=args.python)


if __name__ == "__main__":
    sys.exit(main())
