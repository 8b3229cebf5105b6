#!/usr/bin/env bash
# dist-node.sh — the npm tarball of bindings/node and its proof (part of scripts/dist.sh).
#
#   scripts/dist-node.sh --src ROOT --out DIST --work WORK --seeds SEEDDIR
#
# Skipped (counted as skipped, never as passed) when ROOT/bindings/node has
# no package.json. Otherwise, counted steps:
#   node-version     package.json's version is include/gort.h's
#   node-pack        npm pack (its prepack vendors the C sources) -> DIST/node/gort-X.Y.Z.tgz;
#                    the tarball holds package.json, index.d.ts and lib/, no
#                    tests, build output or node_modules
#   node-install     an empty temp project: npm install --offline of the
#                    tarball (the addon must build with no network: no
#                    node-gyp header download, no dependency fetch)
#   node-seed-NAME   the port of each tests/seed program found (find_port in
#                    dist-lib.sh), run from the temp project with `require('gort')`,
#                    prints what the seed prints (SEEDDIR/NAME.out)
#   node-types       tsc --strict of packaging/tests/node/consumer.ts against the
#                    shipped types (typescript from the npm registry, cached)
set -uo pipefail

src="" out="" work="" seeds=""
while [ $# -gt 0 ]; do
    case "$1" in
        --src) src=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        --seeds) seeds=$2; shift 2 ;;
        *) echo "dist-node.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$src" ] && [ -n "$out" ] && [ -n "$work" ] && [ -n "$seeds" ] \
    || { echo "usage: dist-node.sh --src DIR --out DIR --work DIR --seeds DIR" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/dist-lib.sh
. "$here/dist-lib.sh"
DIST_LOGS=$work/logs
pkg=$src/bindings/node
if [ ! -f "$pkg/package.json" ]; then
    skip node "bindings/node not present"
    dist_counts dist-node
    exit 0
fi
v=$(gort_version "$src") || exit 1
nout=$out/node
proj=$work/project
tgz=$nout/gort-$v.tgz
npmq=(--no-audit --no-fund --loglevel=error)
mkdir -p "$nout" "$work"

node_version() {
    local pv
    pv=$(node -p "require('$pkg/package.json').version") || return 1
    echo "package.json: $pv, include/gort.h: $v"
    [ "$pv" = "$v" ]
}

node_pack() {
    rm -f "$tgz"
    (cd "$pkg" && npm pack "${npmq[@]}" --pack-destination "$nout") || return 1
    [ -f "$tgz" ] || { ls "$nout"; echo "npm pack did not write $tgz"; return 1; }
    local list
    list=$(tar -tzf "$tgz")
    sed 's/^/  /' <<<"$list"
    for want in package/package.json package/index.d.ts package/lib/index.js; do
        grep -qx "$want" <<<"$list" || { echo "tarball lacks $want"; return 1; }
    done
    if grep -E '^package/(test|build|node_modules)/|\.o$' <<<"$list"; then
        echo "tarball holds tests or build output (above)"; return 1
    fi
}

node_install() {
    rm -rf "$proj" && mkdir -p "$proj" && cd "$proj" || return 1
    npm init -y >/dev/null || return 1
    npm install "${npmq[@]}" --offline "$tgz" || return 1
    node -e "const g = require('gort'); console.log('gort from', require.resolve('gort'))" || return 1
    case "$(cd "$proj" && node -p "require.resolve('gort')")" in
        "$proj"/node_modules/gort/*) ;;
        *) echo "require('gort') does not resolve into the temp project"; return 1 ;;
    esac
}

node_seed() { # node_seed PORT NAME ORDERED
    cp "$1" "$proj/port-$2.js" && cd "$proj" || return 1
    timeout 60 node "port-$2.js" >"$work/$2.out" || { cat "$work/$2.out"; return 1; }
    cat "$work/$2.out"
    same_output "$seeds/$2.out" "$work/$2.out" "$3"
}

node_types() {
    cd "$proj" || return 1
    npm install "${npmq[@]}" --prefer-offline --no-save typescript >/dev/null || return 1
    cp "$src/packaging/tests/node/consumer.ts" "$proj/" || return 1
    npx --no-install tsc --version &&
        npx --no-install tsc --strict --noEmit --module nodenext --moduleResolution nodenext \
            --target es2022 --lib es2022,dom consumer.ts
}

if step node-version node_version && step node-pack node_pack && step node-install node_install; then
    for s in worker_pool:0 promise_all:1; do
        name=${s%%:*}
        port=$(find_port "$src" "$name" js)
        if [ -z "$port" ]; then skip "node-seed-$name" "no Node port of tests/seed/$name"; continue; fi
        step "node-seed-$name" node_seed "$port" "$name" "${s##*:}"
    done
    step node-types node_types
fi
dist_counts dist-node
