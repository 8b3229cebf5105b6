#!/usr/bin/env bash
# dist.sh — build every release artifact into dist/ and prove each one in a
# clean place (`make dist`, and the `dist` stage of `make test`).
#
#   scripts/dist.sh                     artifacts of this checkout's HEAD -> dist/
#   scripts/dist.sh --root DIR          another checkout (a git work tree)
#   scripts/dist.sh --out DIR --work DIR
#
# Everything is built from a fresh `git clone` of HEAD (WORK/clone): only
# committed files go into the artifacts, so uncommitted edits and build
# output of the work tree are never released by accident.
#
# Parts (each prints "dist-X: P passed, F failed, S skipped"):
#   dist-c.sh       gort-X.Y.Z.tar.gz, libgort0 + libgort-dev .deb; ABI check,
#                   consumers against the unpacked packages, dpkg-shlibdeps
#   dist-python.sh  python/ sdist + one manylinux wheel per CPython 3.10-3.13;
#                   contents check, wheel installs + smoke + worker_pool.py,
#                   offline sdist install
#   dist-node.sh    node/gort-X.Y.Z.tgz (npm pack); offline install, seed ports,
#                   tsc against the shipped types        (skipped without bindings/node)
#   dist-lua.sh     lua/gort-X.Y.Z-1.src.rock + rockspec; luarocks install into a
#                   temp tree against the unpacked libgort, seed ports
#                                                        (skipped without bindings/lua)
#   versions        packaging/tests/check-versions.sh: every artifact's version
#                   is the installed library's gort_version_string()
# and at the end "dist: P passed, F failed, S skipped" (exit 1 if F > 0).
#
# Work trees: WORK (default build/dist-work) is rebuilt each run; CACHE
# (build/dist-cache of the invoking checkout: the Python tools venv and the
# wheelhouse of build requirements, the seed programs' outputs) is kept, so
# only the first run needs the network (PyPI, npm registry for typescript).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self_root=$(cd "$here/.." && pwd)
root=$self_root out="" work=""
while [ $# -gt 0 ]; do
    case "$1" in
        --root) root=$(cd "$2" && pwd); shift 2 ;;
        --out) out=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "dist.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
out=${out:-$root/dist}
work=${work:-$self_root/build/dist-work}
cache=${GORT_DIST_CACHE:-$self_root/build/dist-cache}
mkdir -p "$out" "$work" "$cache"
out=$(cd "$out" && pwd)
work=$(cd "$work" && pwd)
cache=$(cd "$cache" && pwd)
# shellcheck source=scripts/dist-lib.sh
. "$here/dist-lib.sh"
DIST_LOGS=$work/logs
t0=$(date +%s)
rm -rf "$work"/{c,python,node,lua,logs,clone}

git -C "$root" rev-parse HEAD >/dev/null || { echo "dist.sh: $root is not a git work tree"; exit 1; }
echo "== clean clone of $(git -C "$root" rev-parse --short HEAD) into $work/clone"
git clone -q --no-hardlinks "$root" "$work/clone" || exit 1
src=$work/clone
v=$(gort_version "$src") || exit 1
echo "== gort $v from $src ($(git -C "$src" rev-parse --short HEAD)) -> $out"
# The artifacts of this version replace the previous run's.
rm -rf "$out"/gort-*.tar.gz "$out"/libgort*.deb "$out"/python "$out"/node "$out"/lua

# The seed programs' outputs, the reference of the bindings' ports (cached by content).
seeds=$work/seeds
seed_outputs() {
    local s key c
    mkdir -p "$seeds"
    for s in "$src"/tests/seed/*.go "$src"/tests/seed/*.js; do
        [ -f "$s" ] || continue
        key=$(sha256sum "$s" | cut -c1-16)
        c=$cache/seed-$(basename "$s")-$key.out
        if [ ! -s "$c" ]; then
            case "$s" in
                *.go) (cd "$(dirname "$s")" && PATH=$PATH:/usr/local/go/bin go run "$s") >"$c.tmp" ;;
                *.js) node "$s" >"$c.tmp" ;;
            esac || { rm -f "$c.tmp"; echo "$s failed"; return 1; }
            mv "$c.tmp" "$c"
        fi
        cp "$c" "$seeds/$(basename "${s%.*}").out"
        echo "$(basename "$s"): $(wc -l <"$c") lines"
    done
}

# part NAME SCRIPT ARGS...: run a part, echo it, add its counts.
part() {
    local name=$1 log=$work/$1.log line
    shift
    echo "== $name"
    bash "$@" 2>&1 | tee "$log"
    line=$(grep -E "^dist-$name: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$" "$log" | tail -1)
    if [ -z "$line" ]; then
        echo "FAIL $name: no count line (crashed?)"
        dist_failed=$((dist_failed + 1))
        return
    fi
    dist_passed=$((dist_passed + $(awk '{print $2}' <<<"$line")))
    dist_failed=$((dist_failed + $(awk '{print $4}' <<<"$line")))
    dist_skipped=$((dist_skipped + $(awk '{print $6}' <<<"$line")))
}

echo "== seeds"
step seeds seed_outputs
part c "$here/dist-c.sh" --src "$src" --out "$out" --work "$work/c"
part python "$here/dist-python.sh" --src "$src" --out "$out" --work "$work/python" --cache "$cache" \
    --expect-worker-pool "$work/c/worker_pool.expect"
part node "$here/dist-node.sh" --src "$src" --out "$out" --work "$work/node" --seeds "$seeds"
part lua "$here/dist-lua.sh" --src "$src" --out "$out" --work "$work/lua" --seeds "$seeds" \
    --prefix "$work/c/root/usr"
echo "== versions"
if [ -d "$work/c/root/usr" ]; then
    step versions bash "$src/packaging/tests/check-versions.sh" --dist "$out" --prefix "$work/c/root/usr"
    grep -E '^(ok|FAIL) ' "$DIST_LOGS/versions.log" | sed 's/^/     /'
else
    echo "FAIL versions: no unpacked packages (dist-c failed)"
    dist_failed=$((dist_failed + 1))
fi

echo "== artifacts in $out"
(cd "$out" && find . -type f \( -name 'gort*' -o -name 'libgort*' \) | sort | xargs ls -l | awk '{print "  " $5 "\t" $9}')
echo "== dist took $(( $(date +%s) - t0 )) s"
dist_counts dist
