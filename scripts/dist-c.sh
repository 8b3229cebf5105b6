#!/usr/bin/env bash
# dist-c.sh — the C artifacts and their proofs (part of scripts/dist.sh).
#
#   scripts/dist-c.sh --src CHECKOUT --out DIST --work WORK
#
# Artifacts in DIST:
#   gort-X.Y.Z.tar.gz             `git archive` of CHECKOUT's HEAD (committed files only)
#   libgort0_X.Y.Z-1_<arch>.deb   SONAME'd shared library (+ shlibs, symbols)
#   libgort-dev_X.Y.Z-1_<arch>.deb headers, libgort.a, libgort.so link, gort.pc, CMake package
# The .deb files are built with CPack from the unpacked tarball (so the
# tarball is proven to build on its own) with prefix /usr.
#
# Proofs (each a counted step):
#   c-tarball, c-build     the tarball unpacks and builds (-Werror)
#   c-abi                  packaging/abi/gort-abi.py check against the baseline
#   c-example              examples/worker_pool runs; its output, WORK/worker_pool.expect,
#                          is what the Python and other bindings' ports must print
#   c-deb                  cpack -G DEB
#   c-deb-fields           Depends/Section/contents of both packages; libffi
#                          dependencies when libgort links libffi
#   c-deb-consumers        dpkg-deb -x into a temp root, then the consumer
#                          program with pkg-config and with find_package(gort)
#                          (shared and static) against it
#   c-deb-shlibdeps        dpkg-shlibdeps on that consumer finds libgort0's
#                          symbols file: "libgort0 (>= X.Y.Z)"
set -uo pipefail

src="" out="" work=""
while [ $# -gt 0 ]; do
    case "$1" in
        --src) src=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        *) echo "dist-c.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$src" ] && [ -n "$out" ] && [ -n "$work" ] || { echo "usage: dist-c.sh --src DIR --out DIR --work DIR" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/dist-lib.sh
. "$here/dist-lib.sh"
DIST_LOGS=$work/logs
v=$(gort_version "$src") || exit 1
jobs=${JOBS:-2}
mkdir -p "$out" "$work"
tarball=$out/gort-$v.tar.gz
unpacked=$work/gort-$v
bdir=$work/build
arch=$(dpkg --print-architecture)
deb_rt=$out/libgort0_$v-1_$arch.deb
deb_dev=$out/libgort-dev_$v-1_$arch.deb

make_tarball() {
    rm -rf "$unpacked" "$tarball"
    git -C "$src" archive --format=tar --prefix="gort-$v/" HEAD | gzip -n >"$tarball" || return 1
    tar -C "$work" -xzf "$tarball" || return 1
    [ -f "$unpacked/include/gort.h" ] && [ -f "$unpacked/CMakeLists.txt" ] || { echo "tarball lacks sources"; return 1; }
    # Nothing but committed files: no build output, no VCS metadata.
    if tar -tzf "$tarball" | grep -E '(^|/)(build|dist|node_modules|__pycache__|\.git)/|\.(o|so|a|pyc)$'; then
        echo "tarball contains build output or VCS files (above)"
        return 1
    fi
    echo "$tarball: $(tar -tzf "$tarball" | wc -l) entries, $(stat -c %s "$tarball") bytes"
}

build_c() {
    rm -rf "$bdir"
    cmake -S "$unpacked" -B "$bdir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
        -DGORT_WERROR=ON -DGORT_BUILD_TESTS=OFF -DGORT_BUILD_EXAMPLES=ON -DGORT_BUILD_BENCH=OFF &&
        cmake --build "$bdir" -j"$jobs"
}

abi_check() {
    python3 "$unpacked/packaging/abi/gort-abi.py" check --lib "$bdir/libgort.so.0" \
        --map "$unpacked/packaging/libgort.map" --baseline "$unpacked/packaging/abi/libgort.0.symbols"
}

make_debs() {
    rm -rf "$bdir/packages" "$deb_rt" "$deb_dev"
    (cd "$bdir" && cpack -G DEB) || return 1
    cp "$bdir/packages/$(basename "$deb_rt")" "$bdir/packages/$(basename "$deb_dev")" "$out/"
}

# field DEB NAME: the control field NAME of DEB.
field() { dpkg-deb -f "$1" "$2"; }

deb_fields() {
    local ok=0 rt_dep dev_dep so
    rt_dep=$(field "$deb_rt" Depends)
    dev_dep=$(field "$deb_dev" Depends)
    echo "libgort0 Depends: $rt_dep"
    echo "libgort-dev Depends: $dev_dep"
    [ "$(field "$deb_rt" Package)" = libgort0 ] && [ "$(field "$deb_dev" Package)" = libgort-dev ] || { echo "package names"; ok=1; }
    [ "$(field "$deb_rt" Version)" = "$v-1" ] && [ "$(field "$deb_dev" Version)" = "$v-1" ] || { echo "versions"; ok=1; }
    [ "$(field "$deb_rt" Section)" = libs ] && [ "$(field "$deb_dev" Section)" = libdevel ] || { echo "sections"; ok=1; }
    grep -Eq '(^|, )libc6 \(>= [0-9.]+\)' <<<"$rt_dep" || { echo "libgort0 does not depend on libc6 (shlibdeps)"; ok=1; }
    grep -Fq "libgort0 (= $v-1)" <<<"$dev_dep" || { echo "libgort-dev does not depend on libgort0 (= $v-1)"; ok=1; }
    # With the native-call API (GORT_WITH_FFI) libgort links libffi: the
    # runtime package must pull libffi8 and the dev package libffi-dev.
    unpack_debs || return 1
    so=$(find "$work/root/usr/lib" -name "libgort.so.$v" -print -quit)
    local needed
    needed=$(LC_ALL=C readelf -d "$so" | grep NEEDED)
    echo "$needed"
    if grep -q 'libffi' <<<"$needed"; then
        echo "libgort links libffi"
        grep -Eq '(^|, )libffi8' <<<"$rt_dep" || { echo "libgort0 lacks Depends: libffi8"; ok=1; }
        grep -Eq '(^|, )libffi-dev' <<<"$dev_dep" || { echo "libgort-dev lacks Depends: libffi-dev"; ok=1; }
    fi
    local ctrl
    ctrl=$(dpkg-deb --ctrl-tarfile "$deb_rt" | tar -t)
    for f in ./shlibs ./symbols ./postinst ./postrm; do
        grep -qx "$f" <<<"$ctrl" || { echo "libgort0 has no $f"; ok=1; }
    done
    dpkg-deb --ctrl-tarfile "$deb_rt" | tar -xO ./symbols | head -3
    # Contents: the runtime package holds only the library, the dev package the rest.
    local rt dev
    rt=$(dpkg-deb -c "$deb_rt" | awk '{print $6}' | grep -v '/$')
    dev=$(dpkg-deb -c "$deb_dev" | awk '{print $6}' | grep -v '/$')
    echo "libgort0:"; sed 's/^/  /' <<<"$rt"
    echo "libgort-dev:"; sed 's/^/  /' <<<"$dev"
    grep -Evq "^\./usr/lib/[^/]+/libgort\.so\.0(\.[0-9.]+)?$" <<<"$rt" && { echo "libgort0 holds other files"; ok=1; }
    for want in '^\./usr/include/gort\.h$' '/libgort\.a$' '/libgort\.so$' '/pkgconfig/gort\.pc$' \
        '/cmake/gort/gortConfig\.cmake$' '/cmake/gort/gortConfigVersion\.cmake$' '/cmake/gort/gortTargets\.cmake$'; do
        grep -Eq "$want" <<<"$dev" || { echo "libgort-dev lacks $want"; ok=1; }
    done
    return $ok
}

unpack_debs() {
    rm -rf "$work/root" && mkdir -p "$work/root" &&
        dpkg-deb -x "$deb_rt" "$work/root" && dpkg-deb -x "$deb_dev" "$work/root"
}

deb_consumers() {
    unpack_debs || return 1
    bash "$unpacked/packaging/tests/run-consumers.sh" --prefix "$work/root/usr" \
        --work-dir "$work/consumers" --source-dir "$unpacked" || return 1
    # The consumer must have used the unpacked library (no system libgort).
    local deps
    deps=$(ldd "$work/consumers/cmake-build/consumer_shared") || return 1
    grep libgort <<<"$deps"
    grep -q "$work/root/usr/lib/.*/libgort.so.0" <<<"$deps" \
        || { echo "consumer_shared did not load the unpacked libgort.so.0"; return 1; }
}

# dpkg-shlibdeps resolves a program's NEEDED libgort.so.0 to a dependency
# through the symbols file of the package that holds the library, the way
# building any Debian package that links gort will.
deb_shlibdeps() {
    local fake=$work/shlibdeps out
    rm -rf "$fake" && mkdir -p "$fake/debian" || return 1
    dpkg-deb -R "$deb_rt" "$fake/debian/libgort0" || return 1
    printf 'Source: consumer\n\nPackage: consumer\nArchitecture: any\n' >"$fake/debian/control"
    cp "$work/consumers/consumer_pkgconfig" "$fake/consumer" || return 1
    out=$(cd "$fake" && dpkg-shlibdeps -O -e consumer 2>&1) || { echo "$out"; return 1; }
    echo "$out"
    grep -Eq "libgort0 \(>= $v\)" <<<"$out" || { echo "expected libgort0 (>= $v) from the symbols file"; return 1; }
}

worker_pool_c() {
    timeout 120 "$bdir/examples/worker_pool" >"$work/worker_pool.expect" || return 1
    cat "$work/worker_pool.expect"
}

step c-tarball make_tarball &&
    step c-build build_c &&
    { step c-abi abi_check; step c-example worker_pool_c; step c-deb make_debs; } &&
    { step c-deb-fields deb_fields; step c-deb-consumers deb_consumers; } &&
    step c-deb-shlibdeps deb_shlibdeps
dist_counts dist-c
