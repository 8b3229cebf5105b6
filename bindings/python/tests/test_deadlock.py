"""Subprocess tests: a main thread waiting (without timeout) for something
nothing can ever do gets gort.Deadlock ("all goroutines are asleep -
deadlock!", with the goroutine dump); a wait that something will end —
a goroutine, a timer, another thread, I/O, a signal handler — never does."""
import pytest

from conftest import assert_clean_exit, run_python

MESSAGE = "all goroutines are asleep - deadlock!"

# Each script prints "deadlock <seconds> <goroutines in the dump>" if its
# block raised gort.Deadlock, else "done"; the block must never hang (the
# child is killed at the timeout).
SCRIPT = """
import sys, time, threading, gort
{setup}
t0 = time.monotonic()
try:
    {block}
except gort.Deadlock as e:
    assert isinstance(e, RuntimeError)
    assert e.args[0] == {message!r}, e.args
    assert str(e).startswith({message!r}), str(e)
    assert e.dump in str(e), (e.dump, str(e))
    print("deadlock %.2f %d" % (time.monotonic() - t0, e.dump.count("goroutine ")), flush=True)
    sys.exit(0)
print("done", flush=True)
"""



def run_block(setup, block):
    """Run SCRIPT in a fresh interpreter: its output words (checked clean)."""
    cp, _ = run_python(SCRIPT.format(setup=setup, block=block, message=MESSAGE), timeout=60)
    assert_clean_exit(cp)
    return cp.stdout.split(), cp.stderr


DEADLOCKS = {
    # nobody ever sends, no goroutine at all (the executor never started)
    "recv_no_goroutines": ("ch = gort.Chan()", "ch.recv()"),
    # a goroutine exists but is asleep for good on another channel
    "recv_goroutine_blocked": ("ch = gort.Chan(); other = gort.Chan(); gort.go(other.recv)",
                               "ch.recv()"),
    # WaitGroup members that block forever
    "waitgroup": ("wg = gort.WaitGroup(); gate = gort.Chan()\n"
                  "for _ in range(3): wg.go(gate.recv)", "wg.wait()"),
    "promise_result": ("gate = gort.Chan()", "gort.spawn(gate.recv).result()"),
    "select": ("a = gort.Chan(); b = gort.Chan()", "gort.select(gort.Recv(a), gort.Recv(b))"),
    "mutex": ("mu = gort.Mutex(); mu.lock()", "mu.lock()"),
    # a second Python thread blocked forever in gort cannot wake anyone
    "thread_blocked_in_gort": ("other = gort.Chan()\n"
                               "threading.Thread(target=other.recv, daemon=True).start()\n"
                               "ch = gort.Chan()", "ch.recv()"),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(DEADLOCKS))
def test_deadlock_is_reported(name):
    setup, block = DEADLOCKS[name]
    words, err = run_block(setup, block)
    assert words[:1] == ["deadlock"], (words, err)
    assert float(words[1]) < 30, words
    if "gort.go" in setup or "wg.go" in setup or "spawn" in block:
        assert int(words[2]) >= 1, words  # the dump lists the sleeping goroutines


def test_uncaught_deadlock_prints_message_and_dump():
    cp, _ = run_python("""
        import gort
        gate = gort.Chan()
        gort.go(gate.recv)
        gort.Chan().recv()
    """, timeout=60)
    assert cp.returncode == 1, (cp.stdout, cp.stderr)
    assert "gort.Deadlock: " + MESSAGE in cp.stderr, cp.stderr
    assert "[chan receive" in cp.stderr, cp.stderr  # the dump names what they wait for


# Each of these waits ~2 s on the main thread for something that happens.
NOT_DEADLOCKS = {
    "goroutine_sleeps_then_sends": (
        "ch = gort.Chan()\n"
        "def f():\n    gort.sleep(2); ch.send(42)\n"
        "gort.go(f)", "assert ch.recv() == 42"),
    "after_channel_fires": ("ch = gort.after(2)", "ch.recv()"),
    "goroutine_waits_for_timer": (
        "ch = gort.Chan()\n"
        "def f():\n    gort.after(2).recv(); ch.send(1)\n"
        "gort.go(f)", "ch.recv()"),
    "thread_sends_later": (
        "ch = gort.Chan()\n"
        "def f():\n    time.sleep(2); ch.send(7)\n"
        "threading.Thread(target=f).start()", "assert ch.recv() == 7"),
    "goroutine_computes_then_sends": (
        "ch = gort.Chan()\n"
        "def f():\n    end = time.monotonic() + 2\n    while time.monotonic() < end: pass\n"
        "    ch.send(1)\n"
        "gort.go(f)", "ch.recv()"),
    "blocking_call_then_send": (
        "ch = gort.Chan()\n"
        "def f():\n    gort.blocking(time.sleep, 2); ch.send(1)\n"
        "gort.go(f)", "ch.recv()"),
    "signal_handler_wakes": (
        "import signal\nch = gort.Chan()\n"
        "signal.signal(signal.SIGALRM, lambda *a: ch.close())\n"
        "signal.alarm(2)", "ch.recv2()"),
    "waitgroup_members_finish": (
        "wg = gort.WaitGroup()\n"
        "for i in range(3): wg.go(gort.sleep, 1 + i * 0.5)", "wg.wait()"),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(NOT_DEADLOCKS))
def test_no_report_when_something_will_wake(name):
    words, err = run_block(*NOT_DEADLOCKS[name])
    assert words == ["done"], (words, err)


@pytest.mark.timeout(120)
def test_no_report_while_a_goroutine_waits_for_io():
    # The peer (another process) writes after 2 s; meanwhile a C goroutine
    # (a native call spawned on gort's pool) waits in the engine's poller.
    cp, _ = run_python("""
        import socket, subprocess, sys, gort
        a, b = socket.socketpair()
        peer = subprocess.Popen([sys.executable, "-c",
                                 "import os, sys, time; time.sleep(2); os.write(int(sys.argv[1]), b'hi')",
                                 str(b.fileno())], pass_fds=[b.fileno()])
        b.close()
        fd_wait = gort.native(gort.get_library()).func("int gort_fd_wait(int, int, int64_t)")
        try:
            assert fd_wait.spawn(a.fileno(), 1, -1).result() == 1  # GORT_POLLIN, GORT_FOREVER
            print(a.recv(16).decode(), flush=True)
        except gort.Deadlock:
            print("deadlock", flush=True)
        peer.wait()
    """, timeout=60)
    assert_clean_exit(cp)
    assert cp.stdout.split() == ["hi"], (cp.stdout, cp.stderr)


@pytest.mark.timeout(120)
def test_no_report_when_asyncio_awaits_a_promise():
    cp, _ = run_python("""
        import asyncio, gort
        def later():
            gort.sleep(2)
            return 5
        async def main():
            return await gort.spawn(later)
        print(asyncio.run(main()), flush=True)
    """, timeout=60)
    assert_clean_exit(cp)
    assert cp.stdout.split() == ["5"], (cp.stdout, cp.stderr)
