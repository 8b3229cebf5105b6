#!/bin/sh
# callgrind.sh — instruction counts per operation of gort's channel and
# scheduler paths: a figure that, unlike wall time, does not move with the
# load of a shared machine.
#
#   bench/callgrind.sh [build-dir] [procs...]     (default: build/release, 1)
#
# Each benchmark binary runs twice under `valgrind --tool=callgrind` with a
# small and a large size; (Ir(large) - Ir(small)) / (large - small) is the
# instruction count of one operation with start-up and shutdown cancelled
# out. Counts include every thread, but Valgrind runs one thread at a time
# with long slices, so a second P hardly ever spins, steals or contends
# under it (measured: P=2 gives the P=1 counts within 0.2%): the figure is
# the single-core cost of the code paths. What a second core adds (steals,
# wake-ups, lock retries per message) is counted natively by a GORT_STATS
# build instead (src/stats.h). Counts of work done, not of time. Needs
# valgrind; takes about 20 s per P value.
set -eu
build=${1:-build/release}
[ $# -gt 0 ] && shift
procs=${*:-1}
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not installed" >&2; exit 1; }

# Ir of one run: valgrind's "Collected : N" summary line.
ir() { # procs binary args...
    p=$1; shift
    GORT_PROCS=$p valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

# name | binary | args with N for the size | small | large | unit [| tenths]
# spawn prints two metrics (chain and wait-group shapes): per spawn of both.
# tenths: operations per unit of N, in tenths (promise_chain runs a warm-up
# chain of N/10 links first: 11 tenths of a link per N); default 10.
set -- \
  "chan_pingpong|chan_pingpong|N|20000|60000|round trip (2 sends + 2 receives)" \
  "chan_prodcons|chan_prodcons|N|30000|90000|item, summed over cap 0, 10 and 128" \
  "worker_pool|worker_pool|N|20000|60000|job (4 channel operations), summed over W=3 and W=64" \
  "select_contended|select_contended|N|20000|60000|iteration" \
  "select_recv2|select_recv2|N|20000|60000|iteration" \
  "yield_ping|yield_ping|2 N|20000|60000|pair of yields (2 goroutines)" \
  "spawn|spawn|N|20000|60000|goroutine, summed over both shapes" \
  "mutex|mutex|N 4|20000|60000|4 lock/unlock pairs (4 goroutines)" \
  "promise_chain|promise_chain|N|20000|60000|then() link, built and run|11"

printf '| benchmark | per | %s |\n' "$(for p in $procs; do printf 'P=%s ' "$p"; done | sed 's/ $//; s/ / | /g')"
printf '|---|---|%s\n' "$(for p in $procs; do printf -- '---|'; done)"
for row in "$@"; do
    IFS='|' read -r name bin args small large unit tenths <<ROW
$row
ROW
    line="| $name | $unit |"
    for p in $procs; do
        a_small=$(echo "$args" | sed "s/N/$small/")
        a_large=$(echo "$args" | sed "s/N/$large/")
        # shellcheck disable=SC2086
        i1=$(ir "$p" "$build/bench/$bin" $a_small)
        # shellcheck disable=SC2086
        i2=$(ir "$p" "$build/bench/$bin" $a_large)
        if [ -z "$i1" ] || [ -z "$i2" ]; then
            line="$line failed |"
        else
            line="$line $(( (i2 - i1) * 10 / ((large - small) * ${tenths:-10}) )) |"
        fi
    done
    echo "$line"
done
