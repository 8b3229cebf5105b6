#!/usr/bin/env bash
# dist-lua.sh — the source rock of bindings/lua and its proof (part of scripts/dist.sh).
#
#   scripts/dist-lua.sh --src ROOT --out DIST --work WORK --seeds SEEDDIR --prefix PREFIX
#
# PREFIX is an installed libgort (scripts/dist-c.sh's unpacked .deb files:
# WORK/root/usr): the rock is built against it through the rockspec's
# external_dependencies (GORT_INCDIR, GORT_LIBDIR).
#
# Skipped (counted as skipped, never as passed) when ROOT/bindings/lua has no
# *.rockspec. Otherwise, counted steps:
#   lua-rockspec    DIST/lua/gort-X.Y.Z-1.rockspec: the binding's rockspec with
#                   version X.Y.Z-1 (include/gort.h) and its source set to the
#                   C tarball (source.dir gort-X.Y.Z/bindings/lua); the URL is
#                   file:// to DIST's tarball unless GORT_RELEASE_URL is set
#   lua-pack        luarocks pack -> DIST/lua/gort-X.Y.Z-1.src.rock (rockspec + tarball)
#   lua-install     luarocks install of the .src.rock into a temp --tree
#                   against PREFIX (no network: --only-server to an empty dir)
#   lua-seed-NAME   the port of each tests/seed program found, run with `lua`
#                   and that tree's paths, prints what the seed prints
set -uo pipefail

src="" out="" work="" seeds="" prefix=""
while [ $# -gt 0 ]; do
    case "$1" in
        --src) src=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        --seeds) seeds=$2; shift 2 ;;
        --prefix) prefix=$2; shift 2 ;;
        *) echo "dist-lua.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$src" ] && [ -n "$out" ] && [ -n "$work" ] && [ -n "$seeds" ] && [ -n "$prefix" ] \
    || { echo "usage: dist-lua.sh --src DIR --out DIR --work DIR --seeds DIR --prefix DIR" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/dist-lib.sh
. "$here/dist-lib.sh"
DIST_LOGS=$work/logs
spec_in=$(ls "$src"/bindings/lua/*.rockspec 2>/dev/null | head -1)
if [ -z "$spec_in" ]; then
    skip lua "bindings/lua not present"
    dist_counts dist-lua
    exit 0
fi
v=$(gort_version "$src") || exit 1
lout=$out/lua
tarball=$out/gort-$v.tar.gz
spec=$lout/gort-$v-1.rockspec
rock=$lout/gort-$v-1.src.rock
tree=$work/tree
lua=${LUA:-lua5.4}
luav=${GORT_LUA_VERSION:-5.4}
rocks=(luarocks --lua-version "$luav")
mkdir -p "$lout" "$work"

make_rockspec() {
    [ -f "$tarball" ] || { echo "no $tarball (scripts/dist-c.sh makes it)"; return 1; }
    local url=${GORT_RELEASE_URL:-file://$tarball}
    # version and source are replaced; everything else is the binding's own.
    awk -v ver="$v-1" -v url="$url" -v dir="gort-$v/bindings/lua" '
        /^version *=/ { print "version = \"" ver "\""; next }
        /^source *=/ {
            print "source = { url = \"" url "\", dir = \"" dir "\" }"
            if ($0 !~ /}/) skip = 1
            next
        }
        skip { if ($0 ~ /}/) skip = 0; next }
        { print }' "$spec_in" >"$spec" || return 1
    grep -E '^(version|source) ' "$spec"
    "${rocks[@]}" lint "$spec"
}

lua_pack() {
    rm -f "$rock"
    (cd "$lout" && "${rocks[@]}" pack "$spec") || return 1
    [ -f "$rock" ] || { ls "$lout"; return 1; }
    unzip -l "$rock"
}

lua_install() {
    local inc libdir
    inc=$prefix/include
    libdir=$(dirname "$(find "$prefix/lib" -name 'libgort.so' -print -quit)")
    [ -f "$inc/gort.h" ] && [ -n "$libdir" ] || { echo "no installed libgort under $prefix"; return 1; }
    rm -rf "$tree" "$work/empty-server" && mkdir -p "$work/empty-server"
    "${rocks[@]}" --tree "$tree" --only-server "$work/empty-server" install "$rock" \
        GORT_INCDIR="$inc" GORT_LIBDIR="$libdir" || return 1
    "${rocks[@]}" --tree "$tree" list
    eval "$("${rocks[@]}" --tree "$tree" path)"
    "$lua" -e 'local g = require "gort"; print("gort from", package.searchpath("gort", package.path))' || return 1
}

lua_seed() { # lua_seed PORT NAME ORDERED
    eval "$("${rocks[@]}" --tree "$tree" path)"
    cd "$work" || return 1
    timeout 60 "$lua" "$1" >"$work/$2.out" || { cat "$work/$2.out"; return 1; }
    cat "$work/$2.out"
    same_output "$seeds/$2.out" "$work/$2.out" "$3"
}

if step lua-rockspec make_rockspec && step lua-pack lua_pack && step lua-install lua_install; then
    for s in worker_pool:0 promise_all:1; do
        name=${s%%:*}
        port=$(find_port "$src" "$name" lua)
        if [ -z "$port" ]; then skip "lua-seed-$name" "no Lua port of tests/seed/$name"; continue; fi
        step "lua-seed-$name" lua_seed "$port" "$name" "${s##*:}"
    done
fi
dist_counts dist-lua
