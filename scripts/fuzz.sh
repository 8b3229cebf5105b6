#!/usr/bin/env bash
# fuzz.sh — build and run the differential channel fuzzer (tests/fuzz,
# docs/testing.md) with clang's libFuzzer, ASan and UBSan.
#
#   scripts/fuzz.sh [libFuzzer options...]   open-ended, mode seq (make fuzz);
#                                            GORT_FUZZ_MODE=conserve for the other
#   scripts/fuzz.sh --bounded SECONDS        the `fuzz` stage: both modes, the
#                                            time split 2:1 (seq:conserve), then
#                                            the committed corpus replayed once
#
# The library is compiled from src/ straight into the fuzzer (one clang
# command: libFuzzer instruments every object, and the gcc build trees stay
# untouched). Build output and the working corpus live in $GORT_FUZZ_BUILD
# (build/fuzz); the seed corpus tests/fuzz/corpus/<mode> is only read.
# Native calls (src/ffi.c) are built without libffi: they are not fuzzed here.
# The last line of a bounded run is
#   fuzz: total: R runs (E executions), P passed
# (a run: one seed replay or one timed fuzzing session per mode; the
# per-mode lines before it give exec/s and libFuzzer's cov/ft figures).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${GORT_FUZZ_BUILD:-build/fuzz}
cc=${GORT_FUZZ_CC:-clang}
mkdir -p "$out"
arch=$(uname -m)
command -v "$cc" >/dev/null || { echo "fuzz: $cc not found (run 'make deps')"; exit 1; }
# Rebuild when a source is newer than the binary.
bin="$out/fuzz_chan"
if [ ! -x "$bin" ] || [ -n "$(find src include tests/fuzz -newer "$bin" -name '*.[chS]' | head -1)" ]; then
    echo "fuzz: building $bin with $($cc --version | head -1)"
    "$cc" -std=c11 -D_GNU_SOURCE -DGORT_BUILDING_LIBRARY=1 -DGORT_HAVE_VALGRIND_H=0 -DGORT_HAVE_FFI=0 \
        -O1 -g -fno-omit-frame-pointer -ftls-model=initial-exec -Wall -Wextra -Werror \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -Iinclude -iquote src src/*.c "src/ctx/ctx_$arch.S" tests/fuzz/fuzz_chan.c \
        -pthread -o "$bin" || { echo "fuzz: build failed"; exit 1; }
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export GORT_ASYNCPREEMPT=0 # deterministic switch points in the seq mode

if [ "${1:-}" != "--bounded" ]; then
    mode=${GORT_FUZZ_MODE:-seq}
    mkdir -p "$out/corpus/$mode"
    exec env GORT_FUZZ_MODE="$mode" "$bin" -artifact_prefix="$out/" -timeout=60 "$@" \
        "$out/corpus/$mode" "tests/fuzz/corpus/$mode"
fi

total=${2:?usage: fuzz.sh --bounded SECONDS}
runs=0 passed=0 execs=0
for mode in seq conserve; do
    if [ "$mode" = seq ]; then secs=$((total * 2 / 3)); else secs=$((total - total * 2 / 3)); fi
    corpus="$out/corpus/$mode"
    rm -rf "$corpus" && mkdir -p "$corpus"
    log="$out/fuzz-$mode.log"
    # Replay the seeds once (each must pass), then fuzz for secs seconds.
    runs=$((runs + 1))
    if GORT_FUZZ_MODE=$mode "$bin" -runs=0 "tests/fuzz/corpus/$mode" >"$log.seeds" 2>&1; then
        passed=$((passed + 1))
        echo "fuzz: $mode: seed corpus ($(ls "tests/fuzz/corpus/$mode" | wc -l) inputs) replayed: pass"
    else
        echo "fuzz: $mode: seed corpus replay FAILED:"
        tail -40 "$log.seeds"
    fi
    runs=$((runs + 1))
    if GORT_FUZZ_MODE=$mode "$bin" -artifact_prefix="$out/$mode-" -timeout=60 \
        -max_total_time="$secs" -print_final_stats=1 "$corpus" "tests/fuzz/corpus/$mode" >"$log" 2>&1; then
        passed=$((passed + 1))
        res=pass
    else
        res=FAIL
        grep -E 'MISMATCH|ERROR|SUMMARY|runtime error|deadly signal|Test unit written' "$log" | head -20
    fi
    # The last status line: "#N  DONE/pulse  cov: C ft: F corp: ... exec/s: X ..."
    st=$(grep -E '^#[0-9]+' "$log" | tail -1)
    n=$(sed -E 's/^#([0-9]+).*/\1/' <<<"$st")
    c=$(grep -Eo 'cov: [0-9]+' <<<"$st" | awk '{print $2}')
    f=$(grep -Eo 'ft: [0-9]+' <<<"$st" | awk '{print $2}')
    x=$(grep -Eo 'exec/s: [0-9]+' <<<"$st" | awk '{print $2}')
    echo "fuzz: $mode: $res after ${secs} s: ${n:-0} executions (${x:-?} exec/s), cov ${c:-?}, ft ${f:-?}, working corpus $(ls "$corpus" | wc -l) inputs"
    execs=$((execs + ${n:-0}))
done
echo "fuzz: total: $runs runs ($execs executions), $passed passed"
[ "$passed" -eq "$runs" ]
