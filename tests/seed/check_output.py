#!/usr/bin/env python3
"""check_output.py — does a port's output say what a seed program says?

    check_output.py worker_pool PORT_OUTPUT_FILE
    check_output.py promise_all PORT_OUTPUT_FILE [SEED_OUTPUT_FILE]
    check_output.py worker_pool|promise_all --run PROGRAM [ARGS...]
                    (runs the port, 120 s at most, and checks what it prints
                    on stdout; its exit status must be 0 too)

worker_pool: the lines of tests/seed/worker_pool.go, under the freedom Go's
scheduling leaves: exactly one "Worker W started job J" for each job J in
1..5 (W in 1..3), exactly one "Result processed: 2J" for each job, each
result after its job's start line, and nothing else. (Which worker takes
which job, and the order of the results, vary from run to run in Go too.)

promise_all: tests/seed/promise_all.js is deterministic, so the port's
output must equal its output line for line (SEED_OUTPUT_FILE, or the fixed
text below when none is given).

Exit 0 when the output matches, 1 (with the reasons) when it does not.
"""
import re
import subprocess
import sys

NUM_JOBS, NUM_WORKERS = 5, 3

PROMISE_ALL = [f"Worker {(j - 1) % 3 + 1} started job {j}" for j in range(1, 6)] + [
    f"Result processed: {2 * j}" for j in range(1, 6)
]


def check_worker_pool(lines):
    problems = []
    started = {}  # job -> line index
    results = {}  # job -> line index
    for i, line in enumerate(lines):
        m = re.fullmatch(r"Worker (\d+) started job (\d+)", line)
        r = re.fullmatch(r"Result processed: (\d+)", line)
        if m:
            w, j = int(m.group(1)), int(m.group(2))
            if not 1 <= w <= NUM_WORKERS or not 1 <= j <= NUM_JOBS:
                problems.append(f"line {i + 1}: worker or job out of range: {line!r}")
            elif j in started:
                problems.append(f"line {i + 1}: job {j} started twice")
            else:
                started[j] = i
        elif r:
            v = int(r.group(1))
            if v % 2 or not 1 <= v // 2 <= NUM_JOBS:
                problems.append(f"line {i + 1}: no job gives result {v}")
            elif v // 2 in results:
                problems.append(f"line {i + 1}: result {v} printed twice")
            else:
                results[v // 2] = i
        else:
            problems.append(f"line {i + 1}: not a line the seed prints: {line!r}")
    for j in range(1, NUM_JOBS + 1):
        if j not in started:
            problems.append(f"job {j} never started")
        if j not in results:
            problems.append(f"result {2 * j} never printed")
        if j in started and j in results and results[j] < started[j]:
            problems.append(f"result {2 * j} printed before job {j} started")
    return problems


def main(argv):
    if len(argv) < 3 or argv[1] not in ("worker_pool", "promise_all"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[2] == "--run":
        cp = subprocess.run(argv[3:], stdout=subprocess.PIPE, text=True, timeout=120)
        if cp.returncode != 0:
            print(f"{argv[3]}: exit status {cp.returncode}")
            return 1
        lines, argv = cp.stdout.splitlines(), argv[:2] + [argv[3]]
    else:
        with open(argv[2]) as f:
            lines = f.read().splitlines()
    if argv[1] == "worker_pool":
        problems = check_worker_pool(lines)
    else:
        want = PROMISE_ALL
        if len(argv) > 3:
            with open(argv[3]) as f:
                want = f.read().splitlines()
        problems = [] if lines == want else [f"expected {want!r}", f"got      {lines!r}"]
    for p in problems:
        print(f"{argv[2]}: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
