#!/usr/bin/env bash
# check-versions.sh — every artifact's version equals the library's
# gort_version_string() (the `versions` step of scripts/dist.sh).
#
#   check-versions.sh --dist DIST --prefix PREFIX [--cc CC]
#
# PREFIX is the unpacked libgort0 + libgort-dev. The reference is what the
# installed library says at run time (a program compiled against PREFIX
# calling gort_version_string()), not what the header or a file name says.
# Checked, each when its artifact exists in DIST (the C ones must):
#   C tarball: file name, top directory, include/gort.h inside
#   .deb: file names and Version fields (upstream part), gort.pc (pkg-config
#         --modversion), the CMake package (find_package's PACKAGE_VERSION)
#   Python: sdist name and PKG-INFO, every wheel's name and METADATA
#   Node: tarball name and package/package.json
#   Lua: rockspec and src.rock names, the rockspec's version
# Prints one line per check and "versions: N passed, M failed".
set -uo pipefail

dist="" prefix="" cc=cc
while [ $# -gt 0 ]; do
    case "$1" in
        --dist) dist=$2; shift 2 ;;
        --prefix) prefix=$2; shift 2 ;;
        --cc) cc=$2; shift 2 ;;
        *) echo "check-versions.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$dist" ] && [ -n "$prefix" ] || { echo "usage: check-versions.sh --dist DIR --prefix DIR" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

# same WHAT GOT: GOT must be the library's version.
same() {
    if [ "$2" = "$lib" ]; then
        echo "ok   $1: $2"; passed=$((passed + 1))
    else
        echo "FAIL $1: '$2', the library says $lib"; failed=$((failed + 1))
    fi
}
# need GLOB WHAT: the artifact must exist (the C ones always do).
need() {
    compgen -G "$1" >/dev/null && return 0
    echo "FAIL $2: no $1"; failed=$((failed + 1)); return 1
}

libdir=$(dirname "$(find "$prefix/lib" -name 'libgort.so.0' -print -quit)")
printf '#include <gort.h>\n#include <stdio.h>\nint main(void) { puts(gort_version_string()); return 0; }\n' >"$tmp/v.c"
"$cc" -I"$prefix/include" -o "$tmp/v" "$tmp/v.c" -L"$libdir" -lgort || exit 1
lib=$(LD_LIBRARY_PATH=$libdir "$tmp/v") || exit 1
echo "gort_version_string() of $libdir/libgort.so.0: $lib"

if need "$dist/gort-*.tar.gz" "C tarball"; then
    t=$(ls "$dist"/gort-*.tar.gz | head -1)
    same "tarball name" "$(basename "$t" .tar.gz | sed 's/^gort-//')"
    top=$(tar -tzf "$t" | head -1 | cut -d/ -f1)
    same "tarball top directory" "${top#gort-}"
    tar -C "$tmp" -xzf "$t" "$top/include/gort.h"
    same "tarball include/gort.h" "$(for k in MAJOR MINOR PATCH; do
        sed -n "s/^#define GORT_VERSION_$k \([0-9]*\)$/\1/p" "$tmp/$top/include/gort.h"; done | paste -sd.)"
fi
for d in "$dist"/libgort0_*.deb "$dist"/libgort-dev_*.deb; do
    [ -f "$d" ] || { need "$d" "Debian package"; continue; }
    dv=$(dpkg-deb -f "$d" Version)
    same "$(basename "$d") Version" "${dv%-*}"
    f=$(basename "$d" .deb); f=${f#*_}; f=${f%%_*}
    same "$(basename "$d") file name" "${f%-*}"
done
same "gort.pc (pkg-config --modversion)" \
    "$(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --modversion gort)"
printf 'set(PACKAGE_FIND_VERSION 0.0.0)\ninclude(${F})\nmessage("${PACKAGE_VERSION}")\n' >"$tmp/v.cmake"
cv=$(cmake -DF="$libdir/cmake/gort/gortConfigVersion.cmake" -P "$tmp/v.cmake" 2>&1)
same "CMake package (gortConfigVersion.cmake)" "$cv"

for s in "$dist"/python/gort-*.tar.gz; do
    [ -f "$s" ] || continue
    same "Python sdist name" "$(basename "$s" .tar.gz | sed 's/^gort-//')"
    same "Python sdist PKG-INFO" "$(tar -xzOf "$s" "$(basename "$s" .tar.gz)/PKG-INFO" | sed -n 's/^Version: //p')"
done
for w in "$dist"/python/gort-*.whl; do
    [ -f "$w" ] || continue
    wv=$(basename "$w" | cut -d- -f2)
    same "$(basename "$w") name" "$wv"
    same "$(basename "$w") METADATA" "$(unzip -p "$w" "gort-$wv.dist-info/METADATA" | sed -n 's/^Version: //p')"
done
for n in "$dist"/node/gort-*.tgz; do
    [ -f "$n" ] || continue
    same "npm tarball name" "$(basename "$n" .tgz | sed 's/^gort-//')"
    same "npm package.json" "$(tar -xzOf "$n" package/package.json | node -e \
        'let s = ""; process.stdin.on("data", d => s += d).on("end", () => console.log(JSON.parse(s).version))')"
done
for r in "$dist"/lua/gort-*.rockspec "$dist"/lua/gort-*.src.rock; do
    [ -f "$r" ] || continue
    rv=$(basename "$r" | sed -E 's/^gort-(.*)-[0-9]+\.(rockspec|src\.rock)$/\1/')
    same "$(basename "$r") name" "$rv"
    case "$r" in *.rockspec)
        same "$(basename "$r") version field" "$(sed -n 's/^version *= *"\(.*\)-[0-9]*"$/\1/p' "$r")" ;;
    esac
done
echo "versions: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
