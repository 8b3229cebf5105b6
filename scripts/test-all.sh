#!/usr/bin/env bash
# test-all.sh — the stages of `make test`, each from a fresh build directory.
#
#   scripts/test-all.sh                 all stages, in this order
#   scripts/test-all.sh asan tsan       only these
#
#   release   normal build (-Werror) + full ctest (unit, abi, install_consumers)
#   asan      ASan+UBSan build + ctest              GORT_TEST_SCALE=10
#   tsan      TSan build + ctest                    GORT_TEST_SCALE=10
#   valgrind  memcheck over every test executable of the release build
#                                                   GORT_TEST_SCALE=100
#   aarch64   cross build (static) + ctest under qemu-aarch64
#                                                   GORT_TEST_SCALE=20
#   python    Python binding: scripts/python-env.sh (one venv per CPython
#             >= 3.10, GORT_PYTHONS to restrict), pytest bindings/python/tests
#             in each (--timeout per test: GORT_PY_TEST_TIMEOUT, 120 s), then
#             once more under `python -X dev` with the newest version
#             (GORT_PY_SUITE_TIMEOUT, 900 s, bounds each whole pytest run)
#   lua       Lua binding: build the module (CMake, -Werror), busted
#             bindings/lua/tests, the same suite with module + libgort under
#             ASan+UBSan, and `luarocks make` into a temporary tree
#             (GORT_LUA_SUITE_TIMEOUT, 300 s, bounds each busted run)
#   node      Node binding: npm install ./bindings/node (+ promises-aplus-tests,
#             typescript) into $GORT_TEST_BUILD_ROOT/node, the npm pack tarball
#             installed and loaded, then node --test bindings/node/test
#   fault     allocation-failure injection: scripts/fault-sweep.sh over the
#             release and ASan build trees (built if missing)
#   fuzz      differential channel fuzzer (libFuzzer, clang): scripts/fuzz.sh,
#             bounded (GORT_FUZZ_SECONDS, 60 s in all)
#   dist      release artifacts from a clean clone of HEAD (scripts/dist.sh):
#             C tarball, .deb, Python sdist + wheels, npm
#             tarball, Lua rock, each proven in a clean place (docs/packaging.md)
#
# Every stage runs even if an earlier one failed; the summary at the end
# lists each stage's result and time, and the exit status is 1 if any stage
# failed. Build trees live under $GORT_TEST_BUILD_ROOT (default build/test).
# Sanitizer stages build with GORT_WERROR=OFF: the release and aarch64 stages
# already enforce -Werror on the same code, and gcc's sanitizer
# instrumentation adds false-positive warnings (-Wmaybe-uninitialized,
# -Wtsan for fences) that must not fail CI.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
broot=${GORT_TEST_BUILD_ROOT:-build/test}
jobs=${JOBS:-2}
ctest_args=(--output-on-failure -j"$jobs")

all_stages=(release asan tsan valgrind aarch64 python lua node fault fuzz dist)
if [ $# -gt 0 ]; then stages=("$@"); else stages=("${all_stages[@]}"); fi

total_passed=0
total_failed=0
summary=()
t_all=$(date +%s)

banner() {
    echo
    echo "=========================================================================="
    echo "== $*"
    echo "=========================================================================="
}

# count_ctest LOG: add the "x tests failed out of y" numbers to the totals.
count_ctest() {
    local line failed total
    line=$(grep -Eo '[0-9]+ tests? failed out of [0-9]+' "$1" | tail -1)
    if [ -n "$line" ]; then
        failed=$(echo "$line" | awk '{print $1}')
        total=$(echo "$line" | awk '{print $NF}')
        total_passed=$((total_passed + total - failed))
        total_failed=$((total_failed + failed))
    fi
}

configure_build() { # configure_build DIR cmake-args...
    local dir=$1
    shift
    rm -rf "$dir"
    cmake -S "$root" -B "$dir" "$@" || return 1
    cmake --build "$dir" -j"$jobs" || return 1
}

run_ctest() { # run_ctest DIR [env/prefix command...] -- [ctest args]
    local dir=$1
    shift
    local prefix=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do prefix+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    local log="$dir/ctest-stage.log"
    (cd "$dir" && "${prefix[@]}" ctest "${ctest_args[@]}" "$@") 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    count_ctest "$log"
    if ! grep -Eq '[0-9]+ tests? failed out of [0-9]+' "$log"; then
        # ctest did not get to run (or found nothing): count it as a failure.
        total_failed=$((total_failed + 1))
        [ "$rc" -eq 0 ] && rc=1
    fi
    return "$rc"
}

# --- stages -------------------------------------------------------------------

stage_release() {
    configure_build "$broot/release" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGORT_WERROR=ON \
        || { total_failed=$((total_failed + 1)); return 1; }
    run_ctest "$broot/release" env --
}

stage_asan() {
    configure_build "$broot/asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGORT_SANITIZE=address \
        -DGORT_WERROR=OFF -DGORT_BUILD_BENCH=OFF \
        || { total_failed=$((total_failed + 1)); return 1; }
    run_ctest "$broot/asan" env GORT_TEST_SCALE=10 \
        ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}" \
        UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" --
}

# Some kernels map memory where gcc's TSan runtime does not expect it
# (high mmap_rnd_bits): then TSan binaries only run with ASLR off.
tsan_prefix=()
probe_tsan() {
    local d rc
    d=$(mktemp -d)
    printf '#include <pthread.h>\nstatic void *f(void *a) { return a; }\nint main(void) { pthread_t t; pthread_create(&t, 0, f, 0); return pthread_join(t, 0); }\n' >"$d/t.c"
    if ! gcc -fsanitize=thread -pthread "$d/t.c" -o "$d/t" 2>"$d/err"; then
        cat "$d/err"
        echo "tsan: cannot build a TSan program"
        rm -rf "$d"
        return 1
    fi
    if "$d/t" >/dev/null 2>&1; then
        echo "tsan: runs with ASLR on"
        rc=0
    elif setarch "$(uname -m)" -R "$d/t" >/dev/null 2>&1; then
        echo "tsan: needs ASLR off on this kernel: running ctest under 'setarch $(uname -m) -R'"
        tsan_prefix=(setarch "$(uname -m)" -R)
        rc=0
    else
        echo "tsan: a trivial TSan program fails even with ASLR off:"
        "$d/t" || true
        rc=1
    fi
    rm -rf "$d"
    return $rc
}

stage_tsan() {
    probe_tsan || { total_failed=$((total_failed + 1)); return 1; }
    configure_build "$broot/tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGORT_SANITIZE=thread \
        -DGORT_WERROR=OFF -DGORT_BUILD_BENCH=OFF \
        || { total_failed=$((total_failed + 1)); return 1; }
    run_ctest "$broot/tsan" "${tsan_prefix[@]}" env GORT_TEST_SCALE=10 \
        TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1}" --
}

stage_valgrind() {
    if [ ! -f "$broot/release/CMakeCache.txt" ]; then
        configure_build "$broot/release" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
            || { total_failed=$((total_failed + 1)); return 1; }
    else
        cmake --build "$broot/release" -j"$jobs" || { total_failed=$((total_failed + 1)); return 1; }
    fi
    local log="$broot/release/valgrind-stage.log" rc line
    GORT_TEST_SCALE=100 VG_JOBS="$jobs" bash scripts/valgrind-tests.sh "$broot/release" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    line=$(grep -E '^valgrind: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    if [ -n "$line" ]; then
        total_passed=$((total_passed + $(echo "$line" | awk '{print $2}')))
        total_failed=$((total_failed + $(echo "$line" | awk '{print $4}')))
    else
        total_failed=$((total_failed + 1))
        [ "$rc" -eq 0 ] && rc=1
    fi
    return "$rc"
}

stage_aarch64() {
    local sysroot=/usr/aarch64-linux-gnu
    for tool in aarch64-linux-gnu-gcc qemu-aarch64; do
        command -v "$tool" >/dev/null || {
            echo "aarch64: $tool not found (run 'make deps')"
            total_failed=$((total_failed + 1))
            return 1
        }
    done
    configure_build "$broot/aarch64" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGORT_WERROR=ON -DGORT_BUILD_BENCH=OFF \
        "-DCMAKE_CROSSCOMPILING_EMULATOR=qemu-aarch64;-L;$sysroot" \
        || { total_failed=$((total_failed + 1)); return 1; }
    # install_consumers is not registered in cross builds; the abi tests run
    # (test_abi skips its shared-library case: executables are static here).
    run_ctest "$broot/aarch64" env GORT_TEST_SCALE=20 GORT_TEST_EMULATED=1 QEMU_LD_PREFIX="$sysroot" -- -LE install
}

# run_pytest LABEL PYTHON [python options...]: pytest over bindings/python/tests.
# Exit 5 (no tests collected) passes only while there is no tests/test_*.py.
py_skipped=0
pyroot=${GORT_PY_ROOT:-$root/build/python}
run_pytest() {
    local label=$1 py=$2
    shift 2
    local log="$pyroot/pytest-$label.log" rc line n
    echo "-- pytest ($label): $("$py" "$@" -c 'import sys; print(sys.executable, sys.version.split()[0])') $*"
    # The outer timeout only catches a hang that pytest-timeout cannot stop.
    timeout --kill-after=10 "${GORT_PY_SUITE_TIMEOUT:-900}" \
        "$py" "$@" -m pytest -q -rsfE --timeout "${GORT_PY_TEST_TIMEOUT:-120}" \
        -p no:cacheprovider bindings/python/tests 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    line=$(grep -E '[0-9]+ (passed|failed|skipped|errors?|xfailed|xpassed|deselected)' "$log" | tail -1)
    n=$(grep -Eo '[0-9]+ passed' <<<"$line" | awk '{print $1}'); total_passed=$((total_passed + ${n:-0}))
    n=$(grep -Eo '[0-9]+ failed' <<<"$line" | awk '{print $1}'); total_failed=$((total_failed + ${n:-0}))
    n=$(grep -Eo '[0-9]+ errors?' <<<"$line" | awk '{print $1}'); total_failed=$((total_failed + ${n:-0}))
    n=$(grep -Eo '[0-9]+ skipped' <<<"$line" | awk '{print $1}'); py_skipped=$((py_skipped + ${n:-0}))
    if [ "$rc" -eq 5 ]; then
        if compgen -G "bindings/python/tests/test_*.py" >/dev/null; then
            echo "-- pytest ($label): no tests collected although tests/test_*.py exist"
            total_failed=$((total_failed + 1))
            return 1
        fi
        echo "-- pytest ($label): no tests yet (bindings/python/tests/test_*.py), not a failure"
        return 0
    fi
    if [ "$rc" -ne 0 ] && [ -z "$(grep -Eo '[0-9]+ (failed|errors?)' <<<"$line")" ]; then
        total_failed=$((total_failed + 1))   # crashed, timed out or failed to start
    fi
    case $rc in
        0 | 1) ;;
        124 | 137) line="suite timed out after ${GORT_PY_SUITE_TIMEOUT:-900} s${line:+; last: $line}" ;;
        *) [ "$rc" -gt 128 ] && line="crashed: signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null))${line:+; $line}" ;;
    esac
    echo "-- pytest ($label): exit $rc${line:+: $line}"
    return "$rc"
}

stage_python() {
    local venvs=() v dir rc=0 newest=""
    if ! GORT_PY_ROOT="$pyroot" bash scripts/python-env.sh; then
        echo "python: scripts/python-env.sh failed for some version"
        total_failed=$((total_failed + 1))
        rc=1
    fi
    while IFS=$'\t' read -r v dir; do
        [ -n "$v" ] && venvs+=("$v=$dir")
    done <"$pyroot/venvs.txt"
    if [ ${#venvs[@]} -eq 0 ]; then
        echo "python: no usable CPython >= 3.10 venv"
        total_failed=$((total_failed + 1))
        return 1
    fi
    py_skipped=0
    for e in "${venvs[@]}"; do
        v=${e%%=*}
        dir=${e#*=}
        newest=$e
        # -X dev (debug allocators, GIL checks) on every version: 3.10/3.11
        # check the GIL differently from 3.12+. It adds checks and changes no
        # code path of gort, so older versions run only under -X dev; the
        # newest runs both ways (as many runs as before: no added time).
        if [ "$e" = "${venvs[-1]}" ]; then
            run_pytest "$v" "$dir/bin/python" || rc=1
        fi
        run_pytest "$v-dev" "$dir/bin/python" -X dev || rc=1
    done
    v=${newest%%=*}
    python_asan "${newest#*=}/bin/python" || rc=1
    echo "python: ${#venvs[@]} version(s) under -X dev, $v also without; ASan+UBSan on $v; $py_skipped test(s) skipped in all"
    return "$rc"
}

# python_asan VENV_PYTHON: the suite once more with libgort and the extension
# built with ASan+UBSan (the runtimes preloaded into the uninstrumented
# interpreter; leak checking off: CPython keeps objects alive at exit). The
# build uses a copy of the sources so no object of the normal build is reused.
python_asan() {
    local base=$1 venv="$pyroot/venv-asan" src="$pyroot/asan-src" pre
    local cc="gcc -fsanitize=address,undefined -fno-omit-frame-pointer"
    pre="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
    rm -rf "$src" && mkdir -p "$src/bindings" &&
        cp -r src include packaging "$src/" && cp -r bindings/python "$src/bindings/python" &&
        rm -rf "$src/bindings/python/build" "$src/bindings/python"/*.egg-info || return 1
    if [ ! -x "$venv/bin/python" ]; then
        "$("$base" -c 'import sys; print(sys._base_executable)')" -m venv "$venv" &&
            "$venv/bin/pip" install --disable-pip-version-check -q cffi pytest pytest-timeout setuptools wheel ||
            { echo "python: cannot make $venv"; total_failed=$((total_failed + 1)); return 1; }
    fi
    echo "-- python (asan): building the binding with $cc"
    if ! (cd "$src" && CC="$cc" LDSHARED="gcc -shared -fsanitize=address,undefined" GORT_WERROR=0 \
            "$venv/bin/pip" install --disable-pip-version-check -q --no-build-isolation --no-deps \
            --force-reinstall ./bindings/python >"$pyroot/logs/asan-build.log" 2>&1); then
        echo "python: ASan build failed (see $pyroot/logs/asan-build.log)"
        total_failed=$((total_failed + 1))
        return 1
    fi
    LD_PRELOAD="$pre" ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 run_pytest asan "$venv/bin/python"
}

# run_busted LABEL [env...]: the Lua suite with the module of $lua_build;
# adds the TAP counts to the totals.
run_busted() {
    local label=$1 log rc ok bad
    shift
    log="$broot/lua-$label.log"
    (cd bindings/lua/tests && env LUA_PATH="$root/$lua_build/lua/?.lua;;" \
        LUA_CPATH="$root/$lua_build/lua/?.so;;" "$@" \
        timeout "${GORT_LUA_SUITE_TIMEOUT:-300}" lua5.4 /usr/bin/busted -o TAP .) >"$log" 2>&1
    rc=$?
    ok=$(grep '^ok ' "$log" | grep -vc '# SKIP')
    bad=$(grep -c '^not ok ' "$log")
    total_passed=$((total_passed + ok))
    total_failed=$((total_failed + bad))
    grep -A4 '^not ok ' "$log" | head -60
    if [ "$rc" -ne 0 ] || [ "$ok" -eq 0 ]; then
        [ "$bad" -eq 0 ] && total_failed=$((total_failed + 1)) && tail -20 "$log"
        echo "-- busted ($label): exit $rc, $ok passed, $bad failed (log: $log)"
        return 1
    fi
    echo "-- busted ($label): $ok passed, $bad failed"
}

stage_lua() {
    local rc=0 pre tree venv pyc="" pysite="" targets=(gort_lua gort_lua_testhelper)
    lua_build="$broot/lua"
    # The polyglot host embeds the newest CPython with the Python binding.
    if GORT_PYTHONS=newest GORT_PY_ROOT="$pyroot" bash scripts/python-env.sh >"$broot/lua-python.log" 2>&1; then
        venv=$(tail -n1 "$pyroot/venvs.txt" | cut -f2)
        pyc="$("$venv/bin/python" -c 'import sys; print(sys._base_executable)')-config"
        pysite=$("$venv/bin/python" -c 'import gort, os; print(os.path.dirname(os.path.dirname(gort.__file__)))')
        [ -x "$pyc" ] && targets+=(gort_lua_polyglot) || pyc=""
    fi
    [ -n "$pyc" ] || echo "-- polyglot host: no CPython venv with the binding (see $broot/lua-python.log): its test stays pending"
    cmake -S . -B "$lua_build" -DGORT_WERROR=ON -DGORT_BUILD_LUA=ON -DGORT_BUILD_BENCH=OFF \
        -DGORT_BUILD_EXAMPLES=OFF -DGORT_PYTHON_CONFIG="$pyc" >/dev/null &&
        cmake --build "$lua_build" -j"$jobs" --target "${targets[@]}" >"$broot/lua-build.log" 2>&1 ||
        { tail -30 "$broot/lua-build.log"; total_failed=$((total_failed + 1)); return 1; }
    if [ -n "$pyc" ]; then
        run_busted release GORT_POLYGLOT="$root/$lua_build/lua/polyglot" GORT_POLYGLOT_PYTHONPATH="$pysite" || rc=1
    else
        run_busted release || rc=1
    fi
    lua_build="$broot/lua-asan"
    pre="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
    cmake -S . -B "$lua_build" -DGORT_WERROR=OFF -DGORT_SANITIZE=address -DGORT_BUILD_LUA=ON \
        -DGORT_BUILD_BENCH=OFF -DGORT_BUILD_EXAMPLES=OFF >/dev/null &&
        cmake --build "$lua_build" -j"$jobs" --target gort_lua gort_lua_testhelper >"$broot/lua-asan-build.log" 2>&1 ||
        { tail -30 "$broot/lua-asan-build.log"; total_failed=$((total_failed + 1)); return 1; }
    run_busted asan LD_PRELOAD="$pre" ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 || rc=1
    tree=$(mktemp -d)
    if (cd bindings/lua && luarocks --lua-version 5.4 make --tree "$tree" gort-scm-1.rockspec \
            GORT_INCDIR="$root/include" GORT_LIBDIR="$root/$broot/lua" >"$root/$broot/lua-rock.log" 2>&1) &&
        (eval "$(luarocks --lua-version 5.4 path --tree "$tree")" && cd / &&
            lua5.4 -e 'local g = require "gort"; assert(package.searchpath("gort.core", package.cpath):find("'"$tree"'", 1, true))
                       assert(g.run(function() local c = g.chan(1, "int64"); c:send(1 << 62); return c:recv() end) == 1 << 62)'); then
        echo "-- luarocks make: installed into a temporary tree and imported: ok"
        total_passed=$((total_passed + 1))
    else
        tail -20 "$broot/lua-rock.log"
        echo "-- luarocks make: FAILED"
        total_failed=$((total_failed + 1))
        rc=1
    fi
    rm -rf "$tree" bindings/lua/gort_wrap.c bindings/lua/*.o bindings/lua/core.so
    return "$rc"
}

# stage_node: the Node addon built by npm from this checkout (and from the
# tarball npm pack makes), then its node --test suite (A+ suite included).
stage_node() {
    local dir="$root/$broot/node" log out pass fail
    rm -rf "$dir" && mkdir -p "$dir/pack" "$dir/logs" || return 1
    echo "-- node $(node --version), npm $(npm --version)"
    printf '{ "name": "gort-node-stage", "private": true, "dependencies": { "gort": "file:%s",
      "promises-aplus-tests": "2.1.2", "typescript": "^5.4.0" } }\n' "$root/bindings/node" >"$dir/package.json"
    if ! (cd "$dir" && npm install --no-audit --no-fund >"$dir/logs/install.log" 2>&1); then
        tail -20 "$dir/logs/install.log"
        echo "node: npm install ./bindings/node failed"
        total_failed=$((total_failed + 1))
        return 1
    fi
    out=$( (cd "$root/bindings/node" && npm pack --silent --pack-destination "$dir/pack") 2>"$dir/logs/pack.log") &&
        (cd "$dir/pack" && printf '{ "name": "gort-node-pack", "private": true }\n' >package.json &&
            npm install --no-audit --no-fund "./$out" >"$dir/logs/pack-install.log" 2>&1) &&
        (cd "$dir/pack" && node -e "const g=require('gort'); new g.Chan(1).send(1).then(()=>console.log('-- npm pack tarball: built and loaded, engine', g.version))")
    if [ $? -ne 0 ]; then
        echo "node: installing the npm pack tarball failed (see $dir/logs)"
        total_failed=$((total_failed + 1))
        return 1
    fi
    log="$dir/logs/test.log"
    (cd "$dir" && timeout "${GORT_NODE_SUITE_TIMEOUT:-600}" node --test "$root"/bindings/node/test/*.test.js) >"$log" 2>&1
    local rc=$?
    grep -E '^not ok|^# (tests|pass|fail|skipped)' "$log"
    pass=$(grep -Eo '^# pass [0-9]+' "$log" | awk '{print $3}')
    fail=$(grep -Eo '^# fail [0-9]+' "$log" | awk '{print $3}')
    if [ -z "$pass" ] || [ "$pass" -eq 0 ]; then
        tail -30 "$log"
        echo "node: no test ran (exit $rc)"
        total_failed=$((total_failed + 1))
        return 1
    fi
    total_passed=$((total_passed + pass))
    total_failed=$((total_failed + ${fail:-0}))
    [ "$rc" -ne 0 ] && [ "${fail:-0}" -eq 0 ] && total_failed=$((total_failed + 1))
    echo "node: $pass passed, ${fail:-0} failed (log: $log)"
    return "$rc"
}

# count_line LOG REGEX: add "N ... swept ..., M passed" of the last line
# matching REGEX to the totals (N - M failed); none is a failure.
count_line() {
    local line
    line=$(grep -E "$2" "$1" | tail -1)
    if [ -z "$line" ]; then
        total_failed=$((total_failed + 1))
        return 1
    fi
    local n m
    n=$(sed -E 's/^[^0-9]*([0-9]+) .*/\1/' <<<"${line#*: *: }")
    m=$(awk '{print $(NF-1)}' <<<"$line")
    total_passed=$((total_passed + m))
    total_failed=$((total_failed + n - m))
}

# ensure_build DIR cmake-args...: configure DIR if it has no cache, then build.
ensure_build() {
    local dir=$1
    shift
    if [ -f "$dir/CMakeCache.txt" ]; then
        cmake --build "$dir" -j"$jobs"
    else
        configure_build "$dir" "$@"
    fi
}

stage_fault() {
    local rc=0 b log
    ensure_build "$broot/release" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGORT_WERROR=ON \
        || { total_failed=$((total_failed + 1)); return 1; }
    ensure_build "$broot/asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGORT_SANITIZE=address \
        -DGORT_WERROR=OFF -DGORT_BUILD_BENCH=OFF \
        || { total_failed=$((total_failed + 1)); return 1; }
    for b in release asan; do
        log="$broot/$b/fault-stage.log"
        ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            bash scripts/fault-sweep.sh "$broot/$b" "$b" 2>&1 | tee "$log"
        [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
        count_line "$log" "^fault: $b: [0-9]+ injection points swept" || rc=1
    done
    return "$rc"
}

stage_fuzz() {
    local log="$broot/fuzz-stage.log"
    mkdir -p "$broot"
    GORT_FUZZ_BUILD="$broot/fuzz" bash scripts/fuzz.sh --bounded "${GORT_FUZZ_SECONDS:-60}" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    count_line "$log" "^fuzz: total: [0-9]+ runs? .*passed" || rc=1
    return "$rc"
}

stage_dist() {
    local log="$broot/dist.log" rc line
    mkdir -p "$broot"
    JOBS=$jobs bash scripts/dist.sh --out "$broot/dist/out" --work "$broot/dist/work" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    line=$(grep -E '^dist: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -1)
    if [ -z "$line" ] || [ "$(awk '{print $2}' <<<"$line")" -eq 0 ]; then
        echo "dist: no count line or nothing passed"
        total_failed=$((total_failed + 1))
        [ "$rc" -eq 0 ] && rc=1
        return "$rc"
    fi
    total_passed=$((total_passed + $(awk '{print $2}' <<<"$line")))
    total_failed=$((total_failed + $(awk '{print $4}' <<<"$line")))
    return "$rc"
}

describe() {
    case "$1" in
        lua) echo "Lua binding: busted suite, again under ASan+UBSan, luarocks make into a temp tree" ;;
        node) echo "Node binding: npm install ./bindings/node and its npm pack tarball, node --test (A+ suite included)" ;;
        release) echo "normal build (RelWithDebInfo, -Werror) + ctest" ;;
        asan) echo "ASan+UBSan build + ctest (GORT_TEST_SCALE=10)" ;;
        tsan) echo "TSan build + ctest (GORT_TEST_SCALE=10)" ;;
        valgrind) echo "Valgrind memcheck over the release build's tests (GORT_TEST_SCALE=100)" ;;
        aarch64) echo "aarch64 cross build + ctest under qemu-aarch64 (GORT_TEST_SCALE=20)" ;;
        python) echo "Python binding: pytest under -X dev in a venv per CPython >= 3.10, the newest also without -X dev and under ASan+UBSan" ;;
        fault) echo "allocation-failure injection sweep (release + ASan builds; one-shot and persistent faults)" ;;
        fuzz) echo "differential channel fuzzer (libFuzzer, clang ASan+UBSan), bounded" ;;
        dist) echo "release artifacts from a clean clone (tarball, .deb, wheels, sdist, npm, rock) + their proofs" ;;
    esac
}

echo "gort make test: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cpus, stages: ${stages[*]}"
echo "tools: $(cmake --version | head -1); $(gcc --version | head -1)"
command -v valgrind >/dev/null && echo "       $(valgrind --version)"
command -v qemu-aarch64 >/dev/null && echo "       $(qemu-aarch64 --version | head -1)"
command -v aarch64-linux-gnu-gcc >/dev/null && echo "       $(aarch64-linux-gnu-gcc --version | head -1)"

n=${#stages[@]}
i=0
any_failed=0
for s in "${stages[@]}"; do
    i=$((i + 1))
    if ! declare -F "stage_$s" >/dev/null; then
        echo "unknown stage '$s' (stages: ${all_stages[*]})" >&2
        exit 2
    fi
    banner "stage $i/$n: $s — $(describe "$s")"
    t0=$(date +%s)
    "stage_$s"
    rc=$?
    dt=$(( $(date +%s) - t0 ))
    if [ "$rc" -eq 0 ]; then res=PASS; else res=FAIL; any_failed=1; fi
    echo "== stage $s: $res in ${dt} s"
    summary+=("$(printf '%-9s %s %5d s' "$s" "$res" "$dt")")
done

banner "summary ($(( $(date +%s) - t_all )) s)"
for line in "${summary[@]}"; do echo "  $line"; done
echo "total: $total_passed passed, $total_failed failed"
exit "$any_failed"
