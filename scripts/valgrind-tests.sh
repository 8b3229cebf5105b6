#!/usr/bin/env bash
# valgrind-tests.sh — run every test executable of a (normal, non-sanitizer)
# build under Valgrind memcheck.
#
#   scripts/valgrind-tests.sh BUILD_DIR [test_name ...]
#
# A test fails if Valgrind reports an error or a definite leak in any of its
# processes (the harness forks one child per case; Valgrind follows forks, and
# --error-exitcode makes the child exit 99, which fails the case), or if the
# test itself fails. Output of each test goes to BUILD_DIR/valgrind/NAME.log
# and is printed when it fails.
#
# Environment: GORT_TEST_SCALE (default 100), GORT_TEST_TIMEOUT (per case,
# default 300), VG_JOBS (parallel tests, default 2), VG_TIMEOUT (per test
# executable, seconds, default 900), VG_EXTRA (more valgrind options).
# Tests see GORT_UNDER_VALGRIND=1 (they can also use RUNNING_ON_VALGRIND).
set -euo pipefail

build=${1:?usage: valgrind-tests.sh BUILD_DIR [test_name ...]}
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command -v valgrind >/dev/null || { echo "valgrind-tests: valgrind not found (run 'make deps')" >&2; exit 1; }

tests=()
if [ $# -gt 0 ]; then
    for n in "$@"; do tests+=("$build/tests/$n"); done
else
    while IFS= read -r t; do tests+=("$t"); done \
        < <(find "$build/tests" -maxdepth 1 -type f -name 'test_*' -perm -u+x | sort)
fi
if [ ${#tests[@]} -eq 0 ]; then
    echo "valgrind-tests: no test executables under $build/tests" >&2
    exit 1
fi

logdir="$build/valgrind"
rm -rf "$logdir"
mkdir -p "$logdir"

export GORT_TEST_SCALE=${GORT_TEST_SCALE:-100}
export GORT_TEST_TIMEOUT=${GORT_TEST_TIMEOUT:-300}
export GORT_UNDER_VALGRIND=1
export VG_LOGDIR="$logdir"
export VG_TIMEOUT=${VG_TIMEOUT:-900}
vgopts=(--error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
        --show-leak-kinds=definite --fair-sched=yes --num-callers=40 -q)
[ -f "$here/valgrind.supp" ] && vgopts+=("--suppressions=$here/valgrind.supp")
# shellcheck disable=SC2206 # VG_EXTRA is a list of options
[ -n "${VG_EXTRA:-}" ] && vgopts+=($VG_EXTRA)
export VG_OPTS="${vgopts[*]}"

run_one() {
    local t=$1 name start rc
    name=$(basename "$t")
    start=$(date +%s)
    # shellcheck disable=SC2086
    timeout --kill-after=10 "$VG_TIMEOUT" valgrind $VG_OPTS "$t" >"$VG_LOGDIR/$name.log" 2>&1 && rc=0 || rc=$?
    echo "$rc $(( $(date +%s) - start ))" >"$VG_LOGDIR/$name.rc"
    if [ "$rc" -eq 0 ]; then
        echo "ok   $name ($(( $(date +%s) - start )) s)"
    else
        echo "FAIL $name (exit $rc after $(( $(date +%s) - start )) s)"
    fi
}
export -f run_one

echo "valgrind-tests: ${#tests[@]} executables, ${VG_JOBS:-2} at a time, GORT_TEST_SCALE=$GORT_TEST_SCALE"
printf '%s\n' "${tests[@]}" | xargs -P "${VG_JOBS:-2}" -I{} bash -c 'run_one "$1"' _ {}

passed=0 failed=0
for t in "${tests[@]}"; do
    name=$(basename "$t")
    read -r rc _ <"$logdir/$name.rc" || rc=1
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "---- $name (exit $rc$([ "$rc" -eq 124 ] && echo ", timed out after ${VG_TIMEOUT}s")) ----"
        cat "$logdir/$name.log"
        echo "---- end $name ----"
    fi
done
echo "valgrind: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
