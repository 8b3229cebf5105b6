"""Subprocess tests: Ctrl-C during blocking calls on the main thread, and
interpreter shutdown with goroutines still alive."""
import signal
import subprocess
import time

import pytest

from conftest import assert_clean_exit, popen_python, run_python

# ---- KeyboardInterrupt ---------------------------------------------------------------

# Each snippet blocks the main thread forever unless interrupted; `setup`
# runs first. After the interrupt the script checks that gort still works.
BLOCKERS = {
    "recv": ("ch = gort.Chan()", "ch.recv()"),
    "recv_timeout": ("ch = gort.Chan()", "ch.recv(timeout=300)"),
    "recv2": ("ch = gort.Chan(1)", "ch.recv2()"),
    "iterate": ("ch = gort.Chan()", "list(ch)"),
    "send": ("ch = gort.Chan()", "ch.send(1)"),
    "select": ("ch = gort.Chan()", "gort.select(gort.Recv(ch), gort.Recv(None))"),
    "promise_result": ("p = gort.Promise()", "p.result()"),
    "sleep": ("", "gort.sleep(300)"),
    "waitgroup": ("wg = gort.WaitGroup(); wg.add(1)", "wg.wait()"),
    "mutex": ("mu = gort.Mutex(); mu.lock()", "mu.lock()"),
    "semaphore": ("s = gort.Semaphore(1); s.acquire()", "s.acquire()"),
    "spawn_result": ("gate = gort.Chan()", "gort.spawn(gate.recv).result()"),
}

# A live thread that gort cannot see into makes each wait a possible
# wake-up, not a deadlock (test_deadlock.py): the interrupt is tested alone.
KEEPER = "import threading; threading.Thread(target=threading.Event().wait, daemon=True).start()"

KI_SCRIPT = """
import sys, gort
{keeper}
{setup}
print("ready", flush=True)
try:
    {block}
except KeyboardInterrupt:
    print("interrupted", flush=True)
    # gort still works afterwards
    assert gort.spawn(lambda: 40 + 2).result(timeout=10) == 42
    print("alive", flush=True)
    sys.exit(0)
print("not interrupted", flush=True)
sys.exit(1)
"""


@pytest.mark.parametrize("name", sorted(BLOCKERS))
def test_keyboard_interrupt_during_blocking_call_on_main_thread(name):
    setup, block = BLOCKERS[name]
    proc = popen_python(KI_SCRIPT.format(keeper=KEEPER, setup=setup, block=block))
    try:
        line = proc.stdout.readline()
        assert line.strip() == "ready", (line, proc.stderr.read() if proc.poll() is not None else "")
        time.sleep(0.1)   # let the child enter the call (it must be interrupted either way)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        dt = time.monotonic() - t0
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail("child did not react to SIGINT within 10 s (%s)\nstdout:%s\nstderr:%s"
                    % (name, out, err))
    cp = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert_clean_exit(cp)
    assert out.split() == ["interrupted", "alive"], (out, err)
    assert dt < 5


def test_interrupted_recv_leaves_no_stale_receiver():
    proc = popen_python("""
        import sys, gort
        %s
        ch = gort.Chan()
        print("ready", flush=True)
        try:
            ch.recv()
        except KeyboardInterrupt:
            pass
        # nobody waits on ch any more: an unbuffered try_send must fail
        print("try_send", ch.try_send("lost?"), flush=True)
    """ % KEEPER)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    cp = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert_clean_exit(cp)
    assert out.strip() == "try_send False"


def test_sigint_with_goroutines_alive_goes_to_main_thread():
    # SIGINT while only a goroutine is busy and main waits: main gets it
    proc = popen_python("""
        import sys, gort
        %s
        gate = gort.Chan()
        gort.go(gate.recv)
        print("ready", flush=True)
        try:
            gort.Chan().recv()
        except KeyboardInterrupt:
            print("main interrupted", flush=True)
        gate.close()
    """ % KEEPER)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    cp = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert_clean_exit(cp)
    assert out.strip() == "main interrupted"


# ---- interpreter shutdown -----------------------------------------------------------------

def _check_prompt_clean_exit(code, expect_rc=0, expect_out="done"):
    cp, dt = run_python(code, timeout=30)
    assert_clean_exit(cp, expect_rc)
    assert "Traceback" not in cp.stderr, cp.stderr
    assert cp.stdout.strip().endswith(expect_out), cp.stdout
    assert dt < 20
    return cp


def test_shutdown_with_parked_goroutines():
    _check_prompt_clean_exit("""
        import gort
        never = gort.Chan()
        started = gort.Chan(101)
        def parked():
            started.send(None)
            never.recv()
        def sleeper():
            started.send(None)
            gort.sleep(100)
        for _ in range(100):
            gort.go(parked)
        gort.go(sleeper)
        for _ in range(101):
            started.recv(timeout=10)
        print("done", flush=True)
    """)


def test_shutdown_with_busy_goroutine():
    _check_prompt_clean_exit("""
        import gort
        started = gort.Chan(1)
        def busy():
            started.send(None)
            x = 0
            while True:
                x += 1
        gort.go(busy)
        started.recv(timeout=10)
        print("done", flush=True)
    """)


def test_shutdown_with_goroutines_in_every_kind_of_wait():
    _check_prompt_clean_exit("""
        import gort, threading
        started = gort.Chan(10)
        mu = gort.Mutex(); mu.lock()
        wg = gort.WaitGroup(); wg.add(1)
        p = gort.Promise()
        sem = gort.Semaphore(1); sem.acquire()
        full = gort.Chan(1); full.send("x")
        class Noisy:
            def __del__(self):
                pass
        held = gort.Chan(5)
        for _ in range(5):
            held.send(Noisy())          # values still buffered at exit
        waits = [
            lambda: mu.lock(),
            lambda: wg.wait(),
            lambda: p.result(),
            lambda: sem.acquire(),
            lambda: full.send("y"),
            lambda: gort.select(gort.Recv(gort.Chan()), gort.Recv(None)),
            lambda: gort.after(100).recv(),
        ]
        for w in waits:
            def g(w=w):
                started.send(None)
                w()
            gort.go(g)
        for _ in waits:
            started.recv(timeout=10)
        t = gort.Ticker(0.001)
        # a daemon thread blocked in a channel receive, too
        threading.Thread(target=gort.Chan().recv, daemon=True).start()
        print("done", flush=True)
    """)


def test_shutdown_with_pending_then_callbacks_and_asyncio_bridge():
    _check_prompt_clean_exit("""
        import asyncio, gort
        p = gort.Promise()
        q = p.then(lambda v: v)
        async def main():
            return await gort.spawn(lambda: 1)
        assert asyncio.run(main()) == 1
        print("done", flush=True)
    """)


def test_exit_status_preserved_with_goroutines_alive():
    _check_prompt_clean_exit("""
        import sys, gort
        started = gort.Chan(1)
        def g():
            started.send(None)
            gort.Chan().recv()
        gort.go(g)
        started.recv(timeout=10)
        print("done", flush=True)
        sys.exit(3)
    """, expect_rc=3)


def test_shutdown_right_after_spawning():
    # goroutines that may not have started yet when the interpreter exits
    _check_prompt_clean_exit("""
        import gort
        ch = gort.Chan(1000)
        for i in range(1000):
            gort.go(ch.send, i)
        print("done", flush=True)
    """)


def test_shutdown_from_a_goroutine_calling_sys_exit_is_just_an_exception():
    # SystemExit raised inside a goroutine goes to its promise, not the process
    _check_prompt_clean_exit("""
        import sys, gort
        p = gort.spawn(sys.exit, 5)
        try:
            p.result(timeout=10)
        except SystemExit as e:
            print("SystemExit", e.code)
        print("done", flush=True)
    """)


def test_import_in_fresh_interpreter_and_exit_quickly():
    cp = _check_prompt_clean_exit("""
        import gort
        print(gort.spawn(lambda: "x").result(timeout=10))
        print("done")
    """)
    assert cp.stderr == ""


def test_exit_right_after_starting_the_executor_is_prompt():
    # the first go() starts the executor; exiting at once must not wait for
    # a grace timeout (the stop request must not be lost)
    for _ in range(3):
        cp, dt = run_python("""
            import gort
            gort.go(lambda: None)
        """)
        assert_clean_exit(cp)
        assert dt < 1.5, "interpreter exit took %.2f s" % dt
