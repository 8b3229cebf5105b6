#!/usr/bin/env bash
# fault-sweep.sh — the allocation-failure injection sweep of one build tree
# (the `fault` stage of scripts/test-all.sh; docs/testing.md).
#
#   scripts/fault-sweep.sh BUILD_DIR LABEL
#
# Runs tests/fault's driver over every scenario of fault_prog twice: with
# one-shot faults (the Nth call fails, the rest succeed) and with
# persistent ones (every call from the Nth on fails). Prints the driver's
# lines; the last one is
#   fault: LABEL: P injection points swept (S call sites), Q passed
# (both modes added up). Exit 0 only if every point passed.
#   FAULT_JOBS (2), FAULT_TIMEOUT (15 s per run: a clean run takes < 1 s
#   even under ASan), FAULT_MAX_RUNS (400 per
#   scenario and mode: above that the driver samples with a stride).
set -uo pipefail
dir=${1:?usage: fault-sweep.sh BUILD_DIR LABEL}
label=${2:?usage: fault-sweep.sh BUILD_DIR LABEL}
bin="$dir/tests/fault"
for exe in fault_prog fault_sweep; do
    [ -x "$bin/$exe" ] || { echo "fault: $label: $bin/$exe not built"; exit 1; }
done
args=(-j "${FAULT_JOBS:-2}" -t "${FAULT_TIMEOUT:-15}" -m "${FAULT_MAX_RUNS:-400}")
scenarios=(spawn chan promise io)
swept=0 sites=0 passed=0 rc=0
for mode in once persist; do
    flag=()
    [ "$mode" = persist ] && flag=(-p)
    out=$("$bin/fault_sweep" "${flag[@]}" "${args[@]}" -l "$label-$mode" "$bin/fault_prog" \
        "${scenarios[@]}" | tee /dev/stderr) || rc=1
    line=$(grep -E "^fault: $label-$mode: [0-9]+ injection points swept" <<<"$out" | tail -1)
    if [ -z "$line" ]; then
        echo "fault: $label-$mode: the driver printed no total"
        rc=1
        continue
    fi
    swept=$((swept + $(awk '{print $3}' <<<"$line")))
    sites=$((sites + $(sed -E 's/.*\(([0-9]+) call sites\).*/\1/' <<<"$line")))
    passed=$((passed + $(awk '{print $(NF-1)}' <<<"$line")))
done 2>&1
echo "fault: $label: $swept injection points swept ($sites call sites), $passed passed"
[ "$swept" -gt 0 ] && [ "$passed" -eq "$swept" ] && [ "$rc" -eq 0 ]
