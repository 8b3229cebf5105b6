#!/usr/bin/env python3
"""Run gort's benchmarks against their Go twins and compare.

    python3 bench/run.py --build-dir build/release [--runs 5] [--filter substr]

For every benchmark in BENCHES this script
  * builds the Go twin bench/go/<name> into <build-dir>/bench-go/<name>
    (standard library only: GOTOOLCHAIN=local, GOPROXY=off),
  * runs the C binary <build-dir>/bench/<name> and the Go twin alternately
    (C, Go, then Go, C, ...) --runs times, so machine noise hits both,
    with GORT_PROCS and GOMAXPROCS set to the same value,
  * parses the `RESULT <metric>=<value> <unit>` lines, takes medians,
  * prints a Markdown table (benchmark | metric | gort | Go | gort/Go | goal
    | met?) and writes every raw run to <build-dir>/bench-results.json (and
    the table to <build-dir>/bench-results.md).

The Node twins (bench/run_loop.py), the network servers (bench/run_io.py)
and the Python binding against asyncio/threading (bench/run_py.py; skipped
with --no-python) get tables of their own, printed after this one.

A C binary that does not exist yet is reported as "not built"; a crash, a
non-zero exit, a timeout or missing RESULT lines are reported as such, never
raised. The exit status is 0 unless the script itself was misused: the
numbers are for people to read, not a gate.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GO_DIR = os.path.join(HERE, "go")

ALL = "all"  # procs placeholder: the number of CPUs (or --procs)


class Bench:
    def __init__(self, name, procs=(ALL,), args=(), timeout=180, derive=None):
        self.name = name
        self.procs = list(procs)  # one run configuration per entry
        self.args = list(args)
        self.timeout = timeout
        self.derive = derive  # fn(runs_by_config) -> {metric: value} per run


def derive_speedup(per_cfg):
    """fib_parallel: speedup = seconds(P=1) / seconds(P=all), per run."""
    keys = list(per_cfg)
    if len(keys) != 2:
        return {}
    one, many = per_cfg[keys[0]], per_cfg[keys[1]]
    s1, sn = one.get("seconds"), many.get("seconds")
    if s1 is None or sn is None or sn <= 0:
        return {}
    return {"speedup": (s1 / sn, "x")}


BENCHES = [
    # issue 2: the engine
    Bench("yield_ping", procs=[1]),
    Bench("spawn"),
    Bench("mutex"),
    Bench("sleepers"),
    Bench("fib_parallel", procs=[1, ALL], derive=derive_speedup),
    Bench("rss_blocked", timeout=600),
    # issue 3: channels
    Bench("chan_pingpong"),
    Bench("chan_prodcons"),
    Bench("select_recv2"),
    Bench("select_contended"),
    Bench("worker_pool"),
    Bench("chan_make"),
    # issue 4: preemption
    Bench("preempt_latency", procs=[1]),
    # issue 11: native calls (libffi; no Go twin: cgo is not in CGO_ENABLED=0 twins)
    Bench("ffi_call"),
]

# Goals. ("ratio", x): gort/Go <= x (time or bytes: lower is better).
#        ("min", x):   the gort value itself >= x.
# Keyed by "bench/metric"; "bench/*" covers every metric of the benchmark
# that has no entry of its own; None marks a metric as informational.
GOALS = {
    "spawn/*": ("ratio", 0.5),
    "mutex/*": ("ratio", 1.0),
    "sleepers/wall_ms": ("ratio", 1.0),
    "sleepers/oversleep_mean_us": ("ratio", 1.0),
    "sleepers/oversleep_p99_us": None,
    "fib_parallel/speedup": ("min", 1.8),
    "rss_blocked/bytes_per_g": ("ratio", 1.5),
    "chan_pingpong/*": ("ratio", 0.6),
    "chan_prodcons/*": ("ratio", 0.8),
    "select_recv2/*": ("ratio", 0.6),
    "select_contended/*": ("ratio", 0.8),
    "worker_pool/*": ("ratio", 0.7),
    "preempt_latency/*": ("ratio", 1.0),
    "ffi_call/*": None,
}

RESULT_RE = re.compile(r"^RESULT\s+([A-Za-z0-9_.@-]+)=(\S+)\s+(\S+)\s*$")


def goal_for(bench, metric):
    key = f"{bench}/{metric}"
    if key in GOALS:
        return GOALS[key]
    base = metric.split("@")[0]
    if f"{bench}/{base}" in GOALS:
        return GOALS[f"{bench}/{base}"]
    return GOALS.get(f"{bench}/*")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def matching(benches, pats):
    """The benchmarks (objects with .name) whose name contains one of pats
    (every one if pats is empty): what --filter selects in every runner."""
    return [b for b in benches if not pats or any(p in b.name for p in pats)]


def runner_selection(ap, args, benches, kind):
    """The tail of run_loop/run_io/run_py's own CLIs: --list, --runs and
    --filter. Returns (exit status to return now or None, filter patterns)."""
    if args.list:
        for b in benches:
            print(b.name)
        return 0, []
    if args.runs < 1:
        ap.error("--runs must be >= 1")
    pats = [p for p in args.filter.split(",") if p]
    if not matching(benches, pats):
        log(f"no {kind} benchmark matches --filter {args.filter!r}")
        return 2, pats
    return None, pats


def find_go(explicit):
    if explicit:
        return explicit
    if os.environ.get("GO"):
        return os.environ["GO"]
    found = shutil.which("go")
    if found:
        return found
    if os.access("/usr/local/go/bin/go", os.X_OK):
        return "/usr/local/go/bin/go"
    return None


def go_env(build_dir):
    env = dict(os.environ)
    env["GOTOOLCHAIN"] = "local"
    env["GOFLAGS"] = ""
    env["GO111MODULE"] = "on"
    env["GOPROXY"] = "off"  # stdlib only: never download anything
    env["GOWORK"] = "off"
    env["CGO_ENABLED"] = "0"
    if not env.get("HOME"):
        # CI may run without HOME; go needs somewhere for its caches.
        env.setdefault("GOCACHE", os.path.join(build_dir, "go-cache"))
        env.setdefault("GOPATH", os.path.join(build_dir, "go-path"))
    return env


def build_go(go, name, out_dir, build_dir):
    """Build bench/go/<name>; returns (path or None, error text)."""
    src = os.path.join(GO_DIR, name)
    if not os.path.isdir(src):
        return None, "no Go twin"
    if go is None:
        return None, "go not found"
    out = os.path.join(out_dir, name)
    try:
        p = subprocess.run([go, "build", "-o", out, "./" + name], cwd=GO_DIR,
                           env=go_env(build_dir), capture_output=True, text=True,
                           timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"go build failed: {e}"
    if p.returncode != 0:
        return None, "go build failed: " + (p.stderr.strip() or p.stdout.strip())[-2000:]
    return out, ""


def loadavg():
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def wait_quiet(max_s, threshold):
    """Wait up to max_s seconds for the 1-minute load average to drop below
    threshold (other work on a shared machine skews every number)."""
    t0 = time.monotonic()
    la = loadavg()
    if la is None or la < threshold:
        return
    log(f"  waiting up to {max_s:g} s for load average {la} to fall below {threshold:g} ...")
    while time.monotonic() - t0 < max_s:
        time.sleep(5)
        la = loadavg()
        if la is not None and la < threshold:
            break
    log(f"  load average now {la} (waited {time.monotonic() - t0:.0f} s)")


def describe_rc(rc):
    if rc < 0:
        try:
            return f"crashed ({signal.Signals(-rc).name})"
        except ValueError:
            return f"crashed (signal {-rc})"
    return f"exit {rc}"


def run_once(path, args, procs, timeout):
    """Run one benchmark process. Returns a dict (status 'ok' or a reason)."""
    env = dict(os.environ)
    env["GORT_PROCS"] = str(procs)
    env["GOMAXPROCS"] = str(procs)
    rec = {"procs": procs, "cmd": [path] + [str(a) for a in args], "load_before": loadavg()}
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(rec["cmd"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, env=env, text=True,
                                start_new_session=True)
    except OSError as e:
        rec.update(status=f"cannot run: {e}", metrics={}, elapsed_s=0.0)
        return rec
    try:
        out, err = proc.communicate(timeout=timeout)
        rc = proc.returncode
        timed_out = False
    except subprocess.TimeoutExpired:
        # Kill the process group we created for this run (only our child).
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        out, err = proc.communicate()
        rc = proc.returncode
        timed_out = True
    rec["elapsed_s"] = round(time.monotonic() - t0, 3)
    # Runs are sequential, so the children's rusage delta is this run's.
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    rec["user_s"] = round(ru1.ru_utime - ru0.ru_utime, 3)
    rec["sys_s"] = round(ru1.ru_stime - ru0.ru_stime, 3)
    rec["maxrss_kib"] = ru1.ru_maxrss  # max over all children so far
    rec["minflt"] = ru1.ru_minflt - ru0.ru_minflt
    rec["nvcsw"] = ru1.ru_nvcsw - ru0.ru_nvcsw
    rec["nivcsw"] = ru1.ru_nivcsw - ru0.ru_nivcsw
    metrics = {}
    for line in out.splitlines():
        m = RESULT_RE.match(line.strip())
        if m:
            try:
                metrics[m.group(1)] = (float(m.group(2)), m.group(3))
            except ValueError:
                pass
    rec["metrics"] = {k: {"value": v, "unit": u} for k, (v, u) in metrics.items()}
    rec["rc"] = rc
    if err.strip():
        rec["stderr_tail"] = err.strip()[-1500:]
    if timed_out:
        rec["status"] = f"timeout (> {timeout:g} s)"
    elif rc != 0:
        rec["status"] = describe_rc(rc)
    elif not metrics:
        rec["status"] = "no RESULT lines"
    else:
        rec["status"] = "ok"
    return rec


def run_logged(label, path, args, procs, timeout, i, runs):
    """run_once for run i (of runs), tagged with "run": i, plus its log line
    (and the last stderr line when it failed). label names bench and side."""
    rec = run_once(path, args, procs, timeout)
    rec["run"] = i
    shown = ", ".join(f"{k}={v['value']:.4g}" for k, v in rec["metrics"].items())
    log(f"  {label} run {i + 1}/{runs}: {rec['status']}  {shown}  "
        f"[{rec['elapsed_s']:.2f} s wall, {rec['user_s'] + rec['sys_s']:.2f} s cpu, "
        f"load {rec['load_before']}]")
    if rec["status"] != "ok" and rec.get("stderr_tail"):
        log("    stderr: " + rec["stderr_tail"].splitlines()[-1][:300])
    return rec


def metric_values(runs):
    """{metric: ([values of ok runs], unit)} over a list of run records."""
    out = {}
    for r in runs:
        if r.get("status") != "ok":
            continue
        for k, mv in r["metrics"].items():
            vals, _ = out.setdefault(k, ([], mv["unit"]))
            vals.append(mv["value"])
    return out


def fmt_val(v, unit):
    if v is None:
        return "—"
    if unit == "B" and abs(v) >= 10000:
        return f"{v / 1024:.4g} KiB"
    if abs(v) >= 1000:
        s = f"{v:,.0f}"
    elif abs(v) >= 100:
        s = f"{v:.1f}"
    elif abs(v) >= 10:
        s = f"{v:.2f}"
    else:
        s = f"{v:.3g}"
    return f"{s} {unit}" if unit != "x" else f"{s}×"


def median_cell(m, unit, note):
    """Table cell for one side: its median (with a note on bad runs), or the
    note alone when there is no value."""
    if m is None:
        return note or "no value"
    cell = fmt_val(m, unit)
    if note:
        cell += f" ({note})"
    return cell


def summarize_side(side):
    """Status string for one side of one benchmark: '' if every run was ok."""
    if side.get("error"):
        return side["error"]
    runs = side.get("runs", [])
    bad = [r for r in runs if r["status"] != "ok"]
    if not bad:
        return ""
    reasons = sorted({r["status"] for r in bad})
    return f"{'; '.join(reasons)} ({len(bad)}/{len(runs)} runs)"


def run_bench(b, args, go_bin_dir, go, all_procs):
    c_path = os.path.join(args.build_dir, "bench", b.name)
    cfgs = [all_procs if p == ALL else p for p in b.procs]
    timeout = args.timeout if args.timeout else b.timeout
    res = {"name": b.name, "procs": cfgs, "c": {"path": c_path, "runs": []},
           "go": {"runs": []}}

    if not (os.path.isfile(c_path) and os.access(c_path, os.X_OK)):
        res["c"]["error"] = "not built"
    go_path = None
    if args.no_go:
        res["go"]["error"] = "skipped (--no-go)"
    else:
        go_path, err = build_go(go, b.name, go_bin_dir, args.build_dir)
        res["go"]["path"] = go_path
        if go_path is None:
            res["go"]["error"] = err

    sides = []
    if not res["c"].get("error"):
        sides.append(("c", c_path))
    if go_path:
        sides.append(("go", go_path))
    gave_up = set()
    for i in range(args.runs):
        order = sides if i % 2 == 0 else list(reversed(sides))
        for cfg in cfgs:
            for side, path in order:
                if side in gave_up:
                    continue
                rec = run_logged(f"{b.name:<17} {side:<2} P={cfg}", path, b.args, cfg,
                                 timeout, i, args.runs)
                res[side]["runs"].append(rec)
                if rec["status"].startswith("timeout"):
                    # A hang will hang again: do not spend the whole budget on it.
                    gave_up.add(side)
    return res


def collect_metrics(b, res):
    """Rows for the table: [(metric, c_vals, go_vals, unit)]."""
    multi = len(res["procs"]) > 1
    per_side = {}
    for side in ("c", "go"):
        runs = res[side]["runs"]
        table = {}
        # per configuration
        for cfg in res["procs"]:
            vals = metric_values([r for r in runs if r["procs"] == cfg])
            for k, (v, u) in vals.items():
                name = f"{k}@P{cfg}" if multi else k
                table[name] = (v, u)
        # derived, per run index
        if b.derive is not None:
            by_run = {}
            for r in runs:
                if r["status"] == "ok":
                    by_run.setdefault(r["run"], {})[r["procs"]] = {
                        k: mv["value"] for k, mv in r["metrics"].items()}
            for i in sorted(by_run):
                cfgmap = by_run[i]
                if all(c in cfgmap for c in res["procs"]):
                    ordered = {c: cfgmap[c] for c in res["procs"]}
                    for k, (v, u) in b.derive(ordered).items():
                        table.setdefault(k, ([], u))[0].append(v)
        per_side[side] = table
    names = []
    for side in ("go", "c"):  # Go's order first: it is always complete
        for k in per_side[side]:
            if k not in names:
                names.append(k)
    rows = []
    for k in names:
        cv, cu = per_side["c"].get(k, ([], None))
        gv, gu = per_side["go"].get(k, ([], None))
        rows.append((k, cv, gv, cu or gu or ""))
    return rows


def med(vals):
    return statistics.median(vals) if vals else None


def build_table(benches, results):
    lines = ["| benchmark | metric | gort (median) | Go (median) | gort/Go | goal | met? |",
             "|---|---|---|---|---|---|---|"]
    rows_json = []
    for b in benches:
        res = results[b.name]
        c_note = summarize_side(res["c"])
        go_note = summarize_side(res["go"])
        rows = collect_metrics(b, res)
        if not rows:
            goal = goal_for(b.name, "*")
            lines.append(f"| {b.name} | — | {c_note or '—'} | {go_note or '—'} | — | "
                         f"{fmt_goal(goal)} | — |")
            rows_json.append({"bench": b.name, "metric": None, "gort_status": c_note,
                              "go_status": go_note})
            continue
        for metric, cv, gv, unit in rows:
            cm, gm = med(cv), med(gv)
            goal = goal_for(b.name, metric)
            ratio = cm / gm if cm is not None and gm not in (None, 0) else None
            c_cell = median_cell(cm, unit, c_note)
            g_cell = median_cell(gm, unit, go_note)
            met = judge(goal, cm, ratio)
            if cm is None and goal is not None and c_note and c_note != "not built":
                met = "NO (failed)"
            lines.append(f"| {b.name} | {metric} | {c_cell} | {g_cell} | "
                         f"{'—' if ratio is None else f'{ratio:.2f}'} | {fmt_goal(goal)} | {met} |")
            rows_json.append({"bench": b.name, "metric": metric, "unit": unit,
                              "gort_median": cm, "go_median": gm, "ratio": ratio,
                              "gort_values": cv, "go_values": gv,
                              "gort_min": min(cv) if cv else None,
                              "gort_max": max(cv) if cv else None,
                              "go_min": min(gv) if gv else None,
                              "go_max": max(gv) if gv else None,
                              "goal": fmt_goal(goal), "met": met,
                              "gort_status": c_note, "go_status": go_note})
    return "\n".join(lines), rows_json


def fmt_goal(goal):
    if goal is None:
        return "—"
    kind, x = goal
    return f"≤ {x:g}" if kind == "ratio" else f"≥ {x:g} (abs)"


def judge(goal, value, ratio):
    if goal is None:
        return "—"
    kind, x = goal
    if kind == "ratio":
        if ratio is None:
            return "n/a"
        return "yes" if ratio <= x else "NO"
    if value is None:
        return "n/a"
    return "yes" if value >= x else "NO"


def write_results(out_json, doc, header, table):
    """Write doc to out_json and header + table to the .md next to it; an
    error is logged, not raised."""
    try:
        os.makedirs(os.path.dirname(out_json) or ".", exist_ok=True)
        with open(out_json, "w") as f:
            json.dump(doc, f, indent=1)
        with open(os.path.splitext(out_json)[0] + ".md", "w") as f:
            f.write(header + "\n\n" + table + "\n")
        log(f"raw results: {out_json}")
    except OSError as e:
        log(f"cannot write {out_json}: {e}")


def report_side_table(header, table, rows, results, goals, out_json, started, runs, procs,
                      load_start, load_end):
    """Print a comparison table under its header and save it with the raw
    results (the shared tail of run_io.py and run_loop.py)."""
    header += "\n\n" + machine_line()
    print(header)
    print()
    print(table)
    sys.stdout.flush()
    doc = {"started": started.isoformat(), "runs": runs, "procs": procs,
           "load_start": load_start, "load_end": load_end,
           "goals": {k: (list(v) if v else None) for k, v in goals.items()},
           "table": rows, "benchmarks": results}
    write_results(out_json, doc, header, table)


def _first_line(cmd):
    """First line of a command's stdout, or None if it cannot run."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=go_env("/tmp"))
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = p.stdout.strip().splitlines()
    return out[0].strip() if p.returncode == 0 and out else None


def _virt():
    """'VM (<kind>)', 'container (<kind>) on a VM', 'bare metal' or 'unknown':
    systemd-detect-virt if present, plus the CPU's hypervisor flag (set on
    any guest, also seen from inside a container on a VM)."""
    kind = _first_line(["systemd-detect-virt"])  # prints "none" (exit 1) on bare metal
    hyper = False
    try:
        with open("/proc/cpuinfo") as f:
            hyper = any(l.startswith("flags") and " hypervisor" in l for l in f)
    except OSError:
        pass
    container = _first_line(["systemd-detect-virt", "--container"])
    if container and hyper:
        return f"container ({container}) on a VM (hypervisor flag)"
    if kind:
        return f"VM ({kind})" if not container else f"container ({container})"
    return "VM (hypervisor flag)" if hyper else "bare metal (no hypervisor flag)"


_MACHINE = None


def machine_line():
    """One line saying what ran the benchmarks: CPU model, cores, VM or not,
    kernel, Go and Node versions (ratios depend on all of these)."""
    global _MACHINE
    if _MACHINE is None:
        model = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as f:
                for l in f:
                    if l.startswith("model name"):
                        model = l.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        go = find_go(None)
        node = shutil.which("node")
        _MACHINE = (f"Machine: {model}, {os.cpu_count()} CPU(s), {_virt()}, "
                    f"kernel {platform.release()}, "
                    f"{(go and go_version(go)) or 'Go: n/a'}, "
                    f"Node {(node and _first_line([node, '--version'])) or 'n/a'}")
    return _MACHINE


def go_version(go):
    if go is None:
        return None
    try:
        p = subprocess.run([go, "version"], capture_output=True, text=True, timeout=60,
                           env=go_env("/tmp"))
        return p.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default="build/release",
                    help="CMake build directory (C binaries in <dir>/bench/)")
    ap.add_argument("--runs", type=int, default=5, help="runs per side (default 5)")
    ap.add_argument("--filter", default="",
                    help="only benchmarks whose name contains this (comma = or)")
    ap.add_argument("--procs", type=int, default=0,
                    help="value of 'all Ps' (default: number of CPUs)")
    ap.add_argument("--timeout", type=float, default=0,
                    help="seconds per run (default: per benchmark)")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                    help="before each benchmark wait up to S seconds for the load average "
                         "to fall below half the CPUs (default 0: do not wait)")
    ap.add_argument("--go", default=None, help="go binary (default: $GO, PATH, /usr/local/go)")
    ap.add_argument("--no-go", action="store_true", help="run only the C side")
    ap.add_argument("--no-python", action="store_true",
                    help="skip the Python-binding table (gort vs asyncio/threading)")
    ap.add_argument("--python", default=None,
                    help="interpreter with gort installed for the Python table "
                         "(default: newest build/python/venv-*/bin/python)")
    ap.add_argument("--json", default=None,
                    help="raw results file (default <build-dir>/bench-results.json)")
    ap.add_argument("--list", action="store_true", help="list benchmarks and exit")
    args = ap.parse_args()

    # Network-server benchmarks (gort vs Go vs Node, one load generator) run
    # through bench/run_io.py, which shares this command line.
    sys.path.insert(0, HERE)
    import run_io
    import run_loop  # event loop / promises: gort vs Node (bench/node/<name>.js)
    import run_py  # Python binding: gort vs asyncio vs threading (bench/python/<name>.py)

    if args.list:
        for b in BENCHES:
            print(b.name)
        for name in run_io.names() + run_loop.names() + run_py.names():
            print(name)
        return 0
    if args.runs < 1:
        ap.error("--runs must be >= 1")

    args.build_dir = os.path.abspath(args.build_dir)
    pats = [p for p in args.filter.split(",") if p]
    benches = [b for b in BENCHES if not pats or any(p in b.name for p in pats)]
    io_benches = run_io.select(pats)
    loop_benches = run_loop.select(pats)
    py_benches = [] if args.no_python else run_py.select(pats)
    if not benches and not io_benches and not loop_benches and not py_benches:
        log(f"no benchmark matches --filter {args.filter!r}")
        return 2

    def run_python_table():
        # Last, after the Go, Node and server tables (--no-python skips it).
        if py_benches:
            print()
            run_py.run(args.build_dir, args.runs, pats, args.procs or os.cpu_count() or 1,
                       timeout=args.timeout, wait_quiet=args.wait_quiet, python=args.python)

    if not benches:
        run_loop.run(args.build_dir, args.runs, pats, args.procs or os.cpu_count() or 1,
                     timeout=args.timeout, wait_quiet=args.wait_quiet)  # 0 at once if none
        rc = run_io.run(args.build_dir, args.runs, pats, args.procs or os.cpu_count() or 1,
                        go=None if args.no_go else find_go(args.go), no_go=args.no_go,
                        timeout=args.timeout, wait_quiet=getattr(args, "wait_quiet", 0))
        run_python_table()
        return rc

    all_procs = args.procs or os.cpu_count() or 1
    go = None if args.no_go else find_go(args.go)
    go_bin_dir = os.path.join(args.build_dir, "bench-go")
    os.makedirs(go_bin_dir, exist_ok=True)

    log(f"gort benchmarks: {len(benches)} benchmark(s), {args.runs} run(s) each side, "
        f"all Ps = {all_procs}, build dir {args.build_dir}")
    started = datetime.datetime.now().astimezone()
    load_start = loadavg()
    results = {}
    for b in benches:
        if args.wait_quiet > 0:
            wait_quiet(args.wait_quiet, 0.5 * (os.cpu_count() or 1))
        results[b.name] = run_bench(b, args, go_bin_dir, go, all_procs)

    load_end = loadavg()
    table, rows = build_table(benches, results)
    header = (f"gort vs Go — {started:%Y-%m-%d %H:%M}, median of {args.runs} run(s) per side, "
              f"all Ps = {all_procs} (GORT_PROCS = GOMAXPROCS), {go_version(go) or 'Go: n/a'}; "
              f"load average {load_start} at start, {load_end} at end")
    header += "\n\n" + machine_line()
    if load_start is not None and load_start > 0.5 * all_procs:
        header += (f"\n\nWARNING: the machine was busy when the run started (load {load_start} "
                   f"on {os.cpu_count()} CPUs): numbers are noisy, parallel speed-ups are "
                   f"understated.")
    print(header)
    print()
    print(table)
    sys.stdout.flush()

    out_json = args.json or os.path.join(args.build_dir, "bench-results.json")
    doc = {
        "started": started.isoformat(),
        "runs": args.runs,
        "all_procs": all_procs,
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(),
                 "kernel": platform.release(), "description": machine_line()},
        "go": go_version(go),
        "load_start": load_start,
        "load_end": load_end,
        "goals": {k: (list(v) if v else None) for k, v in GOALS.items()},
        "table": rows,
        "benchmarks": results,
    }
    write_results(out_json, doc, header, table)
    if loop_benches:
        print()
        run_loop.run(args.build_dir, args.runs, pats, all_procs, timeout=args.timeout,
                     wait_quiet=args.wait_quiet)
    if io_benches:
        print()
        run_io.run(args.build_dir, args.runs, pats, all_procs, go=go, no_go=args.no_go,
                   timeout=args.timeout, wait_quiet=getattr(args, "wait_quiet", 0))
    run_python_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
