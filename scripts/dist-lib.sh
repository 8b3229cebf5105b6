# dist-lib.sh — shared by scripts/dist*.sh (sourced, not run).
#
#   step NAME CMD...    run CMD with its output in $DIST_LOGS/NAME.log; print
#                       "ok   NAME" or "FAIL NAME" and the log's tail; count it
#   skip NAME WHY       print "skip NAME: WHY" and count it as skipped (never
#                       as passed)
#   dist_counts LABEL   print "LABEL: P passed, F failed, S skipped" (the line
#                       scripts/test-all.sh adds up) and return 1 if F > 0
#   gort_version ROOT   "X.Y.Z" from ROOT/include/gort.h (the one source of truth)
#
# The caller sets DIST_LOGS (a directory) before the first step.

dist_passed=0
dist_failed=0
dist_skipped=0

step() {
    local name=$1 log rc
    shift
    log="$DIST_LOGS/$name.log"
    mkdir -p "$DIST_LOGS"
    "$@" >"$log" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "ok   $name"
        dist_passed=$((dist_passed + 1))
    else
        echo "FAIL $name (exit $rc; log: $log)"
        tail -n 25 "$log" | sed 's/^/     | /'
        dist_failed=$((dist_failed + 1))
    fi
    return "$rc"
}

skip() {
    echo "skip $1: $2"
    dist_skipped=$((dist_skipped + 1))
}

dist_counts() {
    echo "$1: $dist_passed passed, $dist_failed failed, $dist_skipped skipped"
    [ "$dist_failed" -eq 0 ]
}

gort_version() {
    local h=$1/include/gort.h v
    v=$(for k in MAJOR MINOR PATCH; do
            sed -n "s/^#define GORT_VERSION_$k \([0-9][0-9]*\)\$/\1/p" "$h"
        done | paste -sd.)
    [[ "$v" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "cannot read the version from $h" >&2; return 1; }
    echo "$v"
}

# find_port ROOT SEED EXT: the port of tests/seed/SEED.* to a language, by
# the names the bindings use (examples/SEED.EXT, examples/seed_SEED.EXT,
# bindings/*/examples/SEED.EXT); prints nothing when there is none.
find_port() {
    local root=$1 seed=$2 ext=$3 c
    for c in "$root/examples/$seed.$ext" "$root/examples/seed_$seed.$ext" "$root"/bindings/*/examples/"$seed.$ext"; do
        [ -f "$c" ] && { echo "$c"; return 0; }
    done
    return 0
}

# same_output EXPECTED ACTUAL ORDERED: compare a program's output with its
# reference. ORDERED=1: line by line. ORDERED=0 (a worker pool): the lines
# as a multiset with the worker number masked, since which worker takes
# which job and the order of the lines vary with scheduling.
same_output() {
    if [ "$3" = 1 ]; then
        diff "$1" "$2"
    else
        diff <(sed -E 's/([Ww]orker) [0-9]+/\1 N/' "$1" | sort) <(sed -E 's/([Ww]orker) [0-9]+/\1 N/' "$2" | sort)
    fi
}
