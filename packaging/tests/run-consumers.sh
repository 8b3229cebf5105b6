#!/usr/bin/env bash
# run-consumers.sh — the install_consumers CTest.
#
# Installs the build tree into a scratch prefix, then builds and runs
# packaging/tests/consumer.c against that prefix twice:
#   1. with the compiler flags from `pkg-config --cflags --libs gort`, and
#      statically: libgort.a + `pkg-config --static --libs gort`
#   2. as a CMake project using find_package(gort) (gort::gort and gort::gort_static)
#
# usage: run-consumers.sh --build-dir DIR --work-dir DIR --source-dir DIR
#                         [--cmake CMAKE] [--cc CC] [--config CONFIG]
#        --prefix DIR instead of --build-dir: an already populated prefix (the
#                         unpacked .deb files of scripts/dist-c.sh), no install step
set -euo pipefail

build="" prefix="" work="" src="" cmake=cmake cc=cc config=""
while [ $# -gt 0 ]; do
    case "$1" in
        --build-dir) build=$2; shift 2 ;;
        --prefix) prefix=$2; shift 2 ;;
        --work-dir) work=$2; shift 2 ;;
        --source-dir) src=$2; shift 2 ;;
        --cmake) cmake=$2; shift 2 ;;
        --cc) cc=$2; shift 2 ;;
        --config) config=$2; shift 2 ;;
        *) echo "run-consumers.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$build$prefix" ] && [ -n "$work" ] && [ -n "$src" ] || { echo "run-consumers.sh: missing arguments" >&2; exit 2; }
command -v pkg-config >/dev/null || { echo "run-consumers.sh: pkg-config not found (run 'make deps')" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work"
if [ -n "$build" ]; then
    prefix="$work/prefix"
    echo "== install into $prefix"
    "$cmake" --install "$build" --prefix "$prefix" ${config:+--config "$config"} >"$work/install.log" \
        || { cat "$work/install.log"; exit 1; }
fi

pc=$(find "$prefix" -name gort.pc -print -quit)
[ -n "$pc" ] || { echo "gort.pc was not installed" >&2; exit 1; }
for f in include/gort.h; do
    [ -f "$prefix/$f" ] || { echo "$f was not installed" >&2; exit 1; }
done

echo "== pkg-config consumer"
export PKG_CONFIG_PATH="$(dirname "$pc")"
pkg-config --exists --print-errors 'gort >= 0.1'
flags=$(pkg-config --cflags --libs gort)
libdir=$(pkg-config --variable=libdir gort)
echo "pkg-config --cflags --libs gort: $flags"
case "$libdir" in "$prefix"/*) ;; *) echo "pkg-config libdir '$libdir' is outside '$prefix'" >&2; exit 1 ;; esac
# shellcheck disable=SC2086 # word splitting of the flags is intended
"$cc" -o "$work/consumer_pkgconfig" "$src/packaging/tests/consumer.c" $flags
LD_LIBRARY_PATH="$libdir" "$work/consumer_pkgconfig"
# Static: libgort.a plus `pkg-config --static` (-pthread, and libffi through
# Requires.private when gort was built with it).
static_libs=$(pkg-config --static --libs gort)
echo "pkg-config --static --libs gort: $static_libs"
# shellcheck disable=SC2086
"$cc" -o "$work/consumer_pkgconfig_static" "$src/packaging/tests/consumer.c" \
    $(pkg-config --cflags gort) "$libdir/libgort.a" ${static_libs//-lgort/}
"$work/consumer_pkgconfig_static"

echo "== find_package(gort) consumer"
"$cmake" -S "$src/packaging/tests/cmake-consumer" -B "$work/cmake-build" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON >"$work/cmake-configure.log" \
    || { cat "$work/cmake-configure.log"; exit 1; }
grep -q "gort_DIR:PATH=$prefix/" "$work/cmake-build/CMakeCache.txt" \
    || { echo "find_package(gort) did not pick the scratch prefix:" >&2; grep gort_DIR "$work/cmake-build/CMakeCache.txt" >&2; exit 1; }
"$cmake" --build "$work/cmake-build" >"$work/cmake-build.log" || { cat "$work/cmake-build.log"; exit 1; }
"$work/cmake-build/consumer_shared"
"$work/cmake-build/consumer_static"
echo "install_consumers: ok"
