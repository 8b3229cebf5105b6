#!/usr/bin/env bash
# selftest.sh — the abi_checker CTest: proves that gort-abi.py's check fails
# on each kind of ABI break and passes on a compatible addition, with tiny
# libraries built here (not libgort), so the real check cannot pass vacuously.
#
#   v1          gort_a, gort_b in GORT_0.1                 -> baseline
#   same        v1 again                                   -> pass
#   removed     gort_b gone                                -> fail "removed"
#   old-node    gort_c added, lands in GORT_0.1 (gort_*)   -> fail "added to released node"
#   new-node    gort_c in GORT_0.2 { gort_c; } GORT_0.1    -> pass, "new symbol"
#   moved       gort_b moved to GORT_0.2                   -> fail "changed"
#   soname      v1 with SONAME libgort_t.so.1              -> fail "SONAME"
#
# usage: selftest.sh WORKDIR [CC]
set -euo pipefail
work=$1
cc=${2:-cc}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
abi=("${PYTHON:-python3}" "$here/gort-abi.py")
rm -rf "$work" && mkdir -p "$work" && cd "$work"

map01='GORT_0.1 { global: gort_*; local: *; };'
map02='GORT_0.1 { global: gort_*; local: *; }; GORT_0.2 { global: gort_c; } GORT_0.1;'
map02b='GORT_0.1 { global: gort_a; local: *; }; GORT_0.2 { global: gort_b; } GORT_0.1;'

# lib NAME MAP SONAME FUNCTIONS...: build NAME.so exporting the functions.
lib() {
    local name=$1 map=$2 so=$3
    shift 3
    printf '%s\n' "$map" >"$name.map"
    : >"$name.c"
    for f in "$@"; do echo "int $f(void) { return 0; }" >>"$name.c"; done
    echo "static int gort__internal(void) { return 1; } int gort__use(void); int gort__use(void) { return gort__internal(); }" >>"$name.c"
    "$cc" -shared -fPIC -o "$name.so" "$name.c" -Wl,-soname,"$so" -Wl,--version-script="$name.map"
}

passed=0 failed=0
# expect NAME pass|fail PATTERN: run the check of NAME.so against the v1 baseline.
expect() {
    local name=$1 want=$2 pat=$3 rc=0
    "${abi[@]}" check --lib "$name.so" --map "$name.map" --baseline v1.symbols >"$name.out" 2>&1 || rc=$?
    if { [ "$want" = pass ] && [ $rc -eq 0 ]; } || { [ "$want" = fail ] && [ $rc -eq 1 ]; }; then
        if grep -q -- "$pat" "$name.out"; then
            echo "ok   $name: $want ($pat)"; passed=$((passed + 1)); return
        fi
    fi
    echo "FAIL $name: wanted $want with '$pat', got exit $rc:"; sed 's/^/     /' "$name.out"
    failed=$((failed + 1))
}

lib v1 "$map01" libgort_t.so.0 gort_a gort_b
"${abi[@]}" update --lib v1.so --map v1.map --baseline v1.symbols
grep -q '^ gort_b@GORT_0.1 0.1.0$' v1.symbols || { echo "FAIL: baseline lacks gort_b@GORT_0.1"; cat v1.symbols; exit 1; }

lib same "$map01" libgort_t.so.0 gort_a gort_b
lib removed "$map01" libgort_t.so.0 gort_a
lib old-node "$map01" libgort_t.so.0 gort_a gort_b gort_c
lib new-node "$map02" libgort_t.so.0 gort_a gort_b gort_c
lib moved "$map02b" libgort_t.so.0 gort_a gort_b
lib soname "$map01" libgort_t.so.1 gort_a gort_b

expect same pass "0 problem(s)"
expect removed fail "removed: gort_b@GORT_0.1"
expect old-node fail "added to released node: gort_c@GORT_0.1"
expect new-node pass "new symbol gort_c@GORT_0.2"
expect moved fail "changed: gort_b was @GORT_0.1, is now @GORT_0.2"
expect soname fail "SONAME libgort_t.so.1"
echo "abi selftest: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
