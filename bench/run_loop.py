#!/usr/bin/env python3
"""Event-loop and promise benchmarks: gort vs Node.

    python3 bench/run_loop.py --build-dir build/release [--runs 5] [--filter promise]

bench/run.py calls this module for the benchmarks listed in LOOP_BENCHES:
their twins are Node scripts (JavaScript's own event loop and promises),
not Go programs, so they get a table of their own. For every benchmark and
every run:

  * the C binary <build-dir>/bench/<name> (bench/<name>.c) and its twin
    `node bench/node/<name>.js` run alternately (gort then Node, then Node
    then gort, ...) so that machine noise hits both, with GORT_PROCS =
    GOMAXPROCS = the number of CPUs (or --procs); the Node twins read
    GORT_PROCS where the amount of work depends on it (loop_lag);
  * both print `RESULT <metric>=<value> <unit>` lines (run.py's run_once
    runs and parses them: crashes, timeouts, missing lines are reported,
    never raised);
  * medians go into a Markdown table
        benchmark | metric | gort (median) | Node (median) | gort/Node | goal | met?
    and every raw run into <build-dir>/bench-loop-results.json (the table
    also into bench-loop-results.md).

Goals (LOOP_GOALS): ("ratio", x): gort/Node <= x on a time (lower is
better); ("max", x): the gort value itself <= x; None: informational.
The exit status is 0 unless the script was misused.
"""

import argparse
import datetime
import os
import shutil
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, "node")

sys.path.insert(0, HERE)
import run as run_base  # noqa: E402  (shared runner, table and output helpers)


class LoopBench:
    def __init__(self, name, args=(), timeout=180):
        self.name = name        # bench/<name>.c and bench/node/<name>.js
        self.args = list(args)  # passed to both sides
        self.timeout = timeout


LOOP_BENCHES = [
    LoopBench("promise_chain"),
    LoopBench("promise_all"),
    LoopBench("macrotask_chain"),
    LoopBench("timeouts"),
    LoopBench("loop_lag"),
]

# Keyed by "bench/metric"; "bench/*" covers the benchmark's other metrics.
LOOP_GOALS = {
    "promise_chain/*": ("ratio", 0.4),
    "promise_all/*": ("ratio", 0.2),
    "macrotask_chain/*": ("ratio", 0.2),
    "timeouts/total_ms": ("ratio", 0.2),
    "timeouts/ns_per_set": ("ratio", 0.2),
    "timeouts/late_mean_us": None,
    "loop_lag/max_lag_ms": ("max", 2.0),
    "loop_lag/fib_ms": None,
    "loop_lag/ticks": None,
}

SIDES = ("gort", "node")


log = run_base.log


def names():
    return [b.name for b in LOOP_BENCHES]


def select(pats):
    return run_base.matching(LOOP_BENCHES, pats)


def goal_for(bench, metric):
    key = f"{bench}/{metric}"
    if key in LOOP_GOALS:
        return LOOP_GOALS[key]
    return LOOP_GOALS.get(f"{bench}/*")


def fmt_goal(goal):
    if goal is None:
        return "—"
    kind, x = goal
    return f"≤ {x:g}" if kind == "ratio" else f"≤ {x:g} (abs)"


def judge(goal, value, ratio):
    if goal is None:
        return "—"
    kind, x = goal
    v = ratio if kind == "ratio" else value
    if v is None:
        return "n/a"
    return "yes" if v <= x else "NO"


def side_cmds(b, build_dir):
    """{side: (path, args) or None, error}"""
    cmds = {}
    c_path = os.path.join(build_dir, "bench", b.name)
    if os.path.isfile(c_path) and os.access(c_path, os.X_OK):
        cmds["gort"] = ((c_path, b.args), "")
    else:
        cmds["gort"] = (None, "not built")
    node = shutil.which("node") or shutil.which("nodejs")
    script = os.path.join(NODE_DIR, b.name + ".js")
    if node is None:
        cmds["node"] = (None, "node not found")
    elif not os.path.isfile(script):
        cmds["node"] = (None, "no Node twin")
    else:
        cmds["node"] = ((node, [script] + b.args), "")
    return cmds


def build_table(benches, results):
    lines = ["| benchmark | metric | gort (median) | Node (median) | gort/Node | goal | met? |",
             "|---|---|---|---|---|---|---|"]
    rows = []
    for b in benches:
        res = results[b.name]
        notes = {s: run_base.summarize_side(res[s]) for s in SIDES}
        per = {s: run_base.metric_values(res[s]["runs"]) for s in SIDES}
        metrics = []
        for s in ("node", "gort"):
            for k in per[s]:
                if k not in metrics:
                    metrics.append(k)
        if not metrics:
            lines.append(f"| {b.name} | — | {notes['gort'] or '—'} | {notes['node'] or '—'} | "
                         f"— | {fmt_goal(goal_for(b.name, '*'))} | — |")
            rows.append({"bench": b.name, "metric": None,
                         **{f"{s}_status": notes[s] for s in SIDES}})
            continue
        for k in metrics:
            unit = next((per[s][k][1] for s in SIDES if k in per[s]), "")
            vals = {s: per[s].get(k, ([], ""))[0] for s in SIDES}
            m = {s: statistics.median(vals[s]) if vals[s] else None for s in SIDES}
            cells = [run_base.median_cell(m[s], unit, notes[s]) for s in SIDES]
            ratio = m["gort"] / m["node"] if m["gort"] is not None and m["node"] else None
            goal = goal_for(b.name, k)
            met = judge(goal, m["gort"], ratio)
            if m["gort"] is None and goal is not None and notes["gort"] and \
                    notes["gort"] != "not built":
                met = "NO (failed)"
            lines.append(f"| {b.name} | {k} | {cells[0]} | {cells[1]} | "
                         f"{'—' if ratio is None else f'{ratio:.2f}'} | {fmt_goal(goal)} | {met} |")
            rows.append({"bench": b.name, "metric": k, "unit": unit,
                         "gort_median": m["gort"], "node_median": m["node"], "ratio": ratio,
                         "gort_values": vals["gort"], "node_values": vals["node"],
                         "goal": fmt_goal(goal), "met": met,
                         **{f"{s}_status": notes[s] for s in SIDES}})
    return "\n".join(lines), rows


def run(build_dir, runs, pats, procs, timeout=0, json_path=None, wait_quiet=0):
    """Run the matching loop benchmarks; print the table; returns 0."""
    benches = select(pats)
    if not benches:
        return 0
    build_dir = os.path.abspath(build_dir)
    log(f"gort event-loop benchmarks (vs Node): {len(benches)} benchmark(s), {runs} run(s) "
        f"per side, GORT_PROCS = {procs}")
    started = datetime.datetime.now().astimezone()
    load_start = run_base.loadavg()
    results = {}
    for b in benches:
        if wait_quiet > 0:
            run_base.wait_quiet(wait_quiet, 0.5 * (os.cpu_count() or 1))
        cmds = side_cmds(b, build_dir)
        res = {"name": b.name, "procs": procs}
        for s in SIDES:
            res[s] = {"runs": []}
            if cmds[s][0] is None:
                res[s]["error"] = cmds[s][1]
            else:
                res[s]["cmd"] = [cmds[s][0][0]] + [str(a) for a in cmds[s][0][1]]
        t = timeout or b.timeout
        gave_up = set()
        for i in range(runs):
            order = SIDES if i % 2 == 0 else tuple(reversed(SIDES))
            for s in order:
                if res[s].get("error") or s in gave_up:
                    continue
                path, args = cmds[s][0]
                rec = run_base.run_logged(f"{b.name:<16} {s:<4}", path, args, procs, t, i, runs)
                res[s]["runs"].append(rec)
                if rec["status"].startswith("timeout"):
                    gave_up.add(s)
        results[b.name] = res
    load_end = run_base.loadavg()
    table, rows = build_table(benches, results)
    header = (f"gort vs Node (event loop, promises) — {started:%Y-%m-%d %H:%M}, median of "
              f"{runs} run(s) per side, GORT_PROCS = {procs}; load average {load_start} at "
              f"start, {load_end} at end")
    out_json = json_path or os.path.join(build_dir, "bench-loop-results.json")
    run_base.report_side_table(header, table, rows, results, LOOP_GOALS, out_json, started, runs,
                               procs, load_start, load_end)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default="build/release")
    ap.add_argument("--runs", type=int, default=5, help="runs per side (default 5)")
    ap.add_argument("--filter", default="", help="substring(s) of benchmark names, comma = or")
    ap.add_argument("--procs", type=int, default=0, help="GORT_PROCS (default: CPUs)")
    ap.add_argument("--timeout", type=float, default=0, help="seconds per run")
    ap.add_argument("--json", default=None)
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                    help="before each benchmark, wait up to S s for a quiet machine")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    status, pats = run_base.runner_selection(ap, args, LOOP_BENCHES, "loop")
    if status is not None:
        return status
    return run(args.build_dir, args.runs, pats, args.procs or os.cpu_count() or 1,
               timeout=args.timeout, json_path=args.json, wait_quiet=args.wait_quiet)


if __name__ == "__main__":
    sys.exit(main())
