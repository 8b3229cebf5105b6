#!/usr/bin/env python3
"""Network-server benchmarks: gort vs Go vs Node, one load generator.

    python3 bench/run_io.py --build-dir build/release [--runs 3] [--filter echo]

bench/run.py calls this module for the benchmarks listed in IO_BENCHES (its
own mechanism runs one self-measuring binary per side and compares two
sides; a server benchmark needs a server, a client and three sides). Here,
for every benchmark and every run:

  * each of the three servers is started in turn on an ephemeral loopback
    port, once with GORT_PROCS = GOMAXPROCS = 1 and once with the number of
    CPUs (or --procs); metrics are reported per configuration (name@P1,
    name@P2). Node is single-threaded either way. On a 2-CPU machine the
    load generator takes one CPU, so P=1 is the uncontended comparison and
    P=2 shows the cost of a server that oversubscribes the machine:
        gort  <build-dir>/bench/<name>            (bench/<name>.c)
        Go    <build-dir>/bench-go/<name>         (bench/go/<name>, built
                                                   like run.py's twins)
        Node  node bench/node/<name>.js
    it prints "LISTENING <port>" on stdout when it is ready;
  * the same client, <build-dir>/bench/loadgen (bench/loadgen.c: plain C +
    epoll, single-threaded), drives it for a fixed duration over N
    keep-alive connections and prints RESULT lines (requests_per_s, p50_us,
    p99_us);
  * the server's process group is killed; its CPU time is recorded, and
    reported per request (server_cpu_us_per_req: CPU time over the requests
    of the warm-up and the measured window), a figure that moves with what
    a request costs rather than with how much CPU a loaded machine leaves
    the server.

The order of the three sides rotates from run to run so that machine noise
hits all of them alike. Medians are reported in a Markdown table
(benchmark | metric | gort | Go | Node | gort/Go | gort/Node | goal | met?)
and every raw run goes to <build-dir>/bench-io-results.json (table also in
bench-io-results.md). Goals are on throughput: gort/Go >= 1.0 (higher is
better, unlike run.py's time ratios). Missing binaries, a missing `go` or
`node`, crashes and timeouts are reported, never raised; the exit status is
0 unless the script was misused.
"""

import argparse
import datetime
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, "node")

sys.path.insert(0, HERE)
import run as run_base  # noqa: E402  (shared runner, table and output helpers)


ALL = "all"  # procs placeholder: the number of CPUs (or --procs)


class IoBench:
    def __init__(self, name, mode, conns=64, seconds=3.0, size=64, warmup=0.5, procs=(1, ALL)):
        self.name = name          # server binary / twin name
        self.mode = mode          # loadgen mode: echo | http
        self.procs = list(procs)  # server configurations (GORT_PROCS = GOMAXPROCS)
        self.conns = conns
        self.seconds = seconds
        self.size = size          # echo: bytes per request
        self.warmup = warmup


IO_BENCHES = [
    IoBench("tcp_echo", "echo", conns=64, seconds=3.0, size=64),
    IoBench("http_hello", "http", conns=64, seconds=3.0),
]

# ("min_ratio", x): gort/Go >= x.  None: informational.
IO_GOALS = {
    "requests_per_s": ("min_ratio", 1.0),
    "p50_us": None,
    "p99_us": None,
    "errors": None,
    "server_cpu_us_per_req": None,  # lower is better; informational
}

SIDES = ("gort", "go", "node")


log = run_base.log


def names():
    return [b.name for b in IO_BENCHES]


def select(pats):
    return run_base.matching(IO_BENCHES, pats)


def proc_cpu_s(pid):
    """utime + stime of a live process, in seconds (None if unknown)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, ValueError, IndexError):
        return None


def kill_group(proc):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except OSError:
            return
        try:
            proc.wait(timeout=3)
            return
        except subprocess.TimeoutExpired:
            continue


def start_server(cmd, env, timeout):
    """Start a server; returns (proc, port, error)."""
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    except OSError as e:
        return None, None, f"cannot run: {e}"
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not sel.select(left):
            kill_group(proc)
            return None, None, "server did not say LISTENING"
        chunk = os.read(proc.stdout.fileno(), 256)
        if not chunk:
            err = proc.stderr.read().decode(errors="replace").strip()[-300:]
            proc.wait()
            return None, None, f"server exited ({run_base.describe_rc(proc.returncode)}) {err}"
        line += chunk
    sel.close()
    parts = line.decode(errors="replace").split()
    if len(parts) < 2 or parts[0] != "LISTENING" or not parts[1].isdigit():
        kill_group(proc)
        return None, None, f"unexpected server output {line[:80]!r}"
    return proc, int(parts[1]), ""


def run_once(b, side, cmd, loadgen, procs, timeout):
    env = dict(os.environ)
    env["GORT_PROCS"] = str(procs)
    env["GOMAXPROCS"] = str(procs)
    rec = {"side": side, "procs": procs, "cmd": cmd, "load_before": run_base.loadavg(),
           "metrics": {}}
    proc, port, err = start_server(cmd, env, 20)
    if proc is None:
        rec["status"] = err
        return rec
    lg = [loadgen, b.mode, "127.0.0.1", str(port), str(b.conns), str(b.seconds), str(b.size),
          str(b.warmup)]
    rec["loadgen"] = lg
    cpu0 = proc_cpu_s(proc.pid)
    t0 = time.monotonic()
    try:
        p = subprocess.run(lg, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        out, lerr, rc = p.stdout, p.stderr, p.returncode
        timed_out = False
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        lerr, rc, timed_out = "", -9, True
    rec["elapsed_s"] = round(time.monotonic() - t0, 3)
    cpu1 = proc_cpu_s(proc.pid)
    alive = proc.poll() is None
    kill_group(proc)
    try:
        serr = proc.stderr.read().decode(errors="replace").strip()
    except (OSError, ValueError):
        serr = ""
    if cpu0 is not None and cpu1 is not None:
        rec["server_cpu_s"] = round(cpu1 - cpu0, 3)
    for line in out.splitlines():
        m = run_base.RESULT_RE.match(line.strip())
        if m:
            try:
                rec["metrics"][m.group(1)] = {"value": float(m.group(2)), "unit": m.group(3)}
            except ValueError:
                pass
    rps = rec["metrics"].get("requests_per_s", {}).get("value")
    if rps and rec.get("server_cpu_s") is not None:
        # CPU the server spent per request: steadier than the rate on a
        # loaded machine (the rate moves with the CPU the server gets; this
        # moves only with what a request costs). The CPU time covers the
        # warm-up too, and the server runs at about the same rate then.
        rec["metrics"]["server_cpu_us_per_req"] = {
            "value": rec["server_cpu_s"] * 1e6 / (rps * (b.seconds + b.warmup)), "unit": "us"}
    if lerr.strip():
        rec["loadgen_stderr"] = lerr.strip()[-800:]
    if serr:
        rec["server_stderr"] = serr[-800:]
    if not alive:
        rec["status"] = f"server died ({run_base.describe_rc(proc.returncode)})"
    elif timed_out:
        rec["status"] = f"timeout (> {timeout:g} s)"
    elif rc != 0:
        rec["status"] = f"loadgen {run_base.describe_rc(rc)}"
    elif "requests_per_s" not in rec["metrics"]:
        rec["status"] = "no RESULT lines"
    else:
        rec["status"] = "ok"
    return rec


def side_cmds(b, build_dir, go, no_go):
    """{side: (cmd list or None, error)}"""
    cmds = {}
    c_path = os.path.join(build_dir, "bench", b.name)
    if os.path.isfile(c_path) and os.access(c_path, os.X_OK):
        cmds["gort"] = ([c_path, "0"], "")
    else:
        cmds["gort"] = (None, "not built")
    if no_go:
        cmds["go"] = (None, "skipped (--no-go)")
    else:
        go_bin_dir = os.path.join(build_dir, "bench-go")
        os.makedirs(go_bin_dir, exist_ok=True)
        path, err = run_base.build_go(go, b.name, go_bin_dir, build_dir)
        cmds["go"] = ([path, "0"], "") if path else (None, err)
    node = shutil.which("node") or shutil.which("nodejs")
    script = os.path.join(NODE_DIR, b.name + ".js")
    if node is None:
        cmds["node"] = (None, "node not found")
    elif not os.path.isfile(script):
        cmds["node"] = (None, "no Node twin")
    else:
        cmds["node"] = ([node, script, "0"], "")
    return cmds


def fmt_ratio(a, b):
    if a is None or b in (None, 0):
        return "—"
    return f"{a / b:.2f}"


def build_table(benches, results):
    lines = ["| benchmark | metric | gort (median) | Go (median) | Node (median) | gort/Go | "
             "gort/Node | goal | met? |",
             "|---|---|---|---|---|---|---|---|---|"]
    rows = []
    for b in benches:
        res = results[b.name]
        per = {}
        notes = {}
        for side in SIDES:
            runs = res[side]["runs"]
            notes[side] = run_base.summarize_side(res[side])
            vals = {}
            multi = len(res.get("configs", [])) > 1
            for r in runs:
                if r["status"] != "ok":
                    continue
                for k, mv in r["metrics"].items():
                    key = f"{k}@P{r['procs']}" if multi else k
                    vals.setdefault(key, ([], mv["unit"]))[0].append(mv["value"])
            per[side] = vals
        metrics = []
        for side in ("go", "gort", "node"):
            for k in per[side]:
                if k not in metrics:
                    metrics.append(k)
        if not metrics:
            lines.append(f"| {b.name} | — | {notes['gort'] or '—'} | {notes['go'] or '—'} | "
                         f"{notes['node'] or '—'} | — | — | — | — |")
            rows.append({"bench": b.name, "metric": None, **{f"{s}_status": notes[s] for s in SIDES}})
            continue
        for k in metrics:
            unit = next((per[s][k][1] for s in SIDES if k in per[s]), "")
            m = {s: run_base.med(per[s].get(k, ([], ""))[0]) for s in SIDES}
            cells = [run_base.median_cell(m[s], unit, notes[s]) for s in SIDES]
            goal = IO_GOALS.get(k.split("@")[0])
            ratio = m["gort"] / m["go"] if m["gort"] is not None and m["go"] else None
            if goal is None:
                goal_s, met = "—", "—"
            else:
                goal_s = f"≥ {goal[1]:g}"
                met = "n/a" if ratio is None else ("yes" if ratio >= goal[1] else "NO")
            lines.append(f"| {b.name} | {k} | {cells[0]} | {cells[1]} | {cells[2]} | "
                         f"{fmt_ratio(m['gort'], m['go'])} | {fmt_ratio(m['gort'], m['node'])} | "
                         f"{goal_s} | {met} |")
            rows.append({"bench": b.name, "metric": k, "unit": unit,
                         **{f"{s}_median": m[s] for s in SIDES},
                         **{f"{s}_values": per[s].get(k, ([], ""))[0] for s in SIDES},
                         "gort_over_go": ratio, "goal": goal_s, "met": met,
                         **{f"{s}_status": notes[s] for s in SIDES}})
    return "\n".join(lines), rows


def run(build_dir, runs, pats, procs, go=None, no_go=False, timeout=0, json_path=None,
        wait_quiet=0):
    """Run the matching I/O benchmarks; print the table; returns 0.
    wait_quiet > 0: before each run, wait up to that many seconds for the
    load average to fall below half the CPUs (run.py's --wait-quiet)."""
    benches = select(pats)
    if not benches:
        return 0
    build_dir = os.path.abspath(build_dir)
    loadgen = os.path.join(build_dir, "bench", "loadgen")
    log(f"gort I/O benchmarks: {len(benches)} benchmark(s), {runs} run(s) per side, "
        f"GORT_PROCS = GOMAXPROCS = 1 and {procs}, load generator {loadgen}")
    started = datetime.datetime.now().astimezone()
    load_start = run_base.loadavg()
    results = {}
    for b in benches:
        res = {"name": b.name, "mode": b.mode, "conns": b.conns, "seconds": b.seconds,
               "size": b.size, "procs": procs}
        cmds = side_cmds(b, build_dir, go, no_go)
        for s in SIDES:
            res[s] = {"runs": [], "cmd": cmds[s][0]}
            if cmds[s][0] is None:
                res[s]["error"] = cmds[s][1]
        if not os.access(loadgen, os.X_OK):
            for s in SIDES:
                res[s].setdefault("error", "loadgen not built")
        t = timeout or (b.warmup + b.seconds + 60)
        gave_up = set()
        cfgs = [procs if p == ALL else p for p in b.procs]
        cfgs = sorted(set(cfgs), key=cfgs.index)
        res["configs"] = cfgs
        for i in range(runs):
            order = [s for s in SIDES[i % 3:] + SIDES[:i % 3]
                     if not res[s].get("error") and s not in gave_up]
            for cfg in cfgs:
                for s in order:
                    if s in gave_up:
                        continue
                    if wait_quiet > 0 and hasattr(run_base, "wait_quiet"):
                        run_base.wait_quiet(wait_quiet, 0.5 * (os.cpu_count() or 1))
                    rec = run_once(b, s, cmds[s][0], loadgen, cfg, t)
                    rec["run"] = i
                    res[s]["runs"].append(rec)
                    shown = ", ".join(f"{k}={v['value']:.4g}" for k, v in rec["metrics"].items())
                    log(f"  {b.name:<11} {s:<4} P={cfg} run {i + 1}/{runs}: {rec['status']}  "
                        f"{shown}  [server cpu {rec.get('server_cpu_s', '?')} s, "
                        f"load {rec['load_before']}]")
                    if rec["status"] != "ok":
                        tail = rec.get("server_stderr") or rec.get("loadgen_stderr")
                        if tail:
                            log("    stderr: " + tail.splitlines()[-1][:300])
                    if rec["status"].startswith(("timeout", "server did not")):
                        gave_up.add(s)
        results[b.name] = res
    load_end = run_base.loadavg()
    table, rows = build_table(benches, results)
    header = (f"gort vs Go vs Node (network servers) — {started:%Y-%m-%d %H:%M}, median of "
              f"{runs} run(s) per side, GORT_PROCS = GOMAXPROCS = 1 and {procs} (@P1, @P{procs}), "
              f"one load generator "
              f"(bench/loadgen.c); load average {load_start} at start, {load_end} at end")
    out_json = json_path or os.path.join(build_dir, "bench-io-results.json")
    run_base.report_side_table(header, table, rows, results, IO_GOALS, out_json, started, runs,
                               procs, load_start, load_end)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default="build/release")
    ap.add_argument("--runs", type=int, default=3, help="runs per side (default 3)")
    ap.add_argument("--filter", default="", help="substring(s) of benchmark names, comma = or")
    ap.add_argument("--procs", type=int, default=0, help="Ps/GOMAXPROCS (default: CPUs)")
    ap.add_argument("--timeout", type=float, default=0, help="seconds per run")
    ap.add_argument("--go", default=None)
    ap.add_argument("--no-go", action="store_true")
    ap.add_argument("--json", default=None)
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                    help="before each run, wait up to S s for a quiet machine")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    status, pats = run_base.runner_selection(ap, args, IO_BENCHES, "I/O")
    if status is not None:
        return status
    go = None if args.no_go else run_base.find_go(args.go)
    return run(args.build_dir, args.runs, pats, args.procs or os.cpu_count() or 1, go=go,
               no_go=args.no_go, timeout=args.timeout, json_path=args.json,
               wait_quiet=args.wait_quiet)


if __name__ == "__main__":
    sys.exit(main())
