#!/usr/bin/env bash
# python-env.sh — one virtualenv per CPython >= 3.10 on this machine, with the
# Python binding (bindings/python, package `gort`) installed in it.
#
#   scripts/python-env.sh               create or refresh build/python/venv-X.Y
#   GORT_PYTHONS="3.11 3.13" ...        only these versions ("newest": the newest found)
#   GORT_PY_FORCE=1 ...                 reinstall gort even if nothing changed
#
# Interpreters: python3.10 .. python3.14 under $PYENV_ROOT/versions/*/bin
# (default /root/.pyenv) first, then on PATH; each must run and be CPython of
# that version (pyenv shims of versions not selected do not run: skipped).
# A version whose python has no venv/ensurepip module or no Python.h is skipped
# with a message (Debian's system python: apt-get install python3-venv python3-dev).
#
# Each venv gets cffi, pytest, pytest-timeout, setuptools, wheel, mypy (stubtest
# and --strict in the suite) and exceptiongroup (3.10) from PyPI
# (only when one is missing), then `pip install --no-build-isolation --no-deps
# ./bindings/python` (non-editable), skipped when no source of the binding or
# of the C library changed since the last install. The build keeps its objects
# under bindings/python/build, so a rebuild recompiles only what changed.
#
# Writes $GORT_PY_ROOT/venvs.txt (default build/python): one "X.Y<TAB>venv dir"
# line per ready venv, oldest first. Exit status 1 if a found version failed to
# install or none is ready.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
vroot=${GORT_PY_ROOT:-build/python}
pyenv_root=${PYENV_ROOT:-/root/.pyenv}
tools=(cffi pytest pytest-timeout setuptools wheel mypy exceptiongroup)  # mypy: stubtest + --strict on the examples (tests/test_typing.py)
tool_modules="cffi, pytest, pytest_timeout, setuptools, wheel, mypy, exceptiongroup"
all_versions=(3.10 3.11 3.12 3.13 3.14)
pipq=(--disable-pip-version-check --no-input -q)

mkdir -p "$vroot/logs"
vroot_abs=$(cd "$vroot" && pwd)

say() { echo "python-env: $*"; }

# find_python X.Y: print the path of a working CPython X.Y, or nothing.
find_python() {
    local v=$1 c cands=() got
    # pyenv installs, newest patch release first
    while IFS= read -r c; do cands+=("$c"); done < <(
        ls -d "$pyenv_root"/versions/"$v".*/bin/python"$v" 2>/dev/null | sort -rV)
    c=$(command -v "python$v" 2>/dev/null) && cands+=("$c")
    for c in /usr/local/bin/python"$v" /usr/bin/python"$v"; do [ -x "$c" ] && cands+=("$c"); done
    for c in "${cands[@]}"; do
        got=$("$c" -c 'import sys; print(sys.implementation.name, "%d.%d" % sys.version_info[:2])' 2>/dev/null) \
            || continue
        [ "$got" = "cpython $v" ] && { echo "$c"; return 0; }
    done
    return 1
}

# versions to handle
found=()
declare -A interp=()
for v in "${all_versions[@]}"; do
    if p=$(find_python "$v"); then found+=("$v"); interp[$v]=$p; fi
done
if [ ${#found[@]} -eq 0 ]; then
    say "no CPython >= 3.10 found (looked for python3.10..3.14 under $pyenv_root/versions and on PATH)"
    exit 1
fi
gp=${GORT_PYTHONS:-}
wanted=(${gp//,/ })
if [ ${#wanted[@]} -eq 0 ]; then
    versions=("${found[@]}")
else
    versions=()
    for w in "${wanted[@]}"; do
        if [ "$w" = newest ]; then w=${found[-1]}; fi
        if [[ ! " ${all_versions[*]} " =~ " $w " ]]; then
            say "$w: not a supported version (${all_versions[0]} .. ${all_versions[-1]}), skipped"
        elif [ -n "${interp[$w]-}" ]; then
            case " ${versions[*]-} " in *" $w "*) ;; *) versions+=("$w") ;; esac
        else
            say "$w: requested by GORT_PYTHONS but no working python$w found, skipped"
        fi
    done
fi

# newer_than STAMP: true if a source of the binding or the library changed since STAMP.
newer_than() {
    local stamp=$1
    [ -f "$stamp" ] || return 0
    [ -n "$(find "$root/bindings/python" \
                \( -name build -o -name '*.egg-info' -o -name __pycache__ -o -name tests \
                   -o -name dist -o -name .pytest_cache \) -prune -o \
                -type f ! -name '*.so' ! -name '*.so.*' -newer "$stamp" -print -quit)" ] && return 0
    [ -n "$(find "$root/src" "$root/include" "$root/packaging/libgort.map" \
                -type f -newer "$stamp" -print -quit)" ] && return 0
    return 1
}

ready=()
failed=()
for v in "${versions[@]}"; do
    py=${interp[$v]}
    venv="$vroot/venv-$v"
    log="$vroot_abs/logs/install-$v.log"
    what=()
    if ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        say "$v ($py): no venv/ensurepip module (Debian: apt-get install python$v-venv), skipped"
        continue
    fi
    inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
    if [ ! -f "$inc/Python.h" ]; then
        say "$v ($py): no $inc/Python.h (Debian: apt-get install python$v-dev), skipped"
        continue
    fi
    # An existing venv is reused if its python still runs and is the same
    # interpreter (a pyenv upgrade replaces the patch release: recreate).
    real=$(readlink -f "$py")
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import sys' >/dev/null 2>&1 \
        && [ "$(cat "$venv/.gort-base" 2>/dev/null)" = "$real" ]; then
        what+=("venv reused")
    else
        rm -rf "$venv"
        if ! "$py" -m venv "$venv" >"$log" 2>&1; then
            cat "$log"
            say "$v: python -m venv failed, skipped"
            failed+=("$v")
            continue
        fi
        echo "$real" >"$venv/.gort-base"
        what+=("venv created")
    fi
    vpy="$venv/bin/python"
    if "$vpy" -c "import $tool_modules" >/dev/null 2>&1; then
        what+=("tools present")
    else
        if ! "$vpy" -m pip install "${pipq[@]}" "${tools[@]}" >"$log" 2>&1; then
            cat "$log"
            say "$v: pip install ${tools[*]} failed"
            failed+=("$v")
            continue
        fi
        what+=("installed ${tools[*]}")
    fi
    stamp="$venv/.gort-installed"
    pkgdir=$("$vpy" -c 'import importlib.util as u; s = u.find_spec("gort"); print(s.submodule_search_locations[0] if s and s.submodule_search_locations else "")' 2>/dev/null)
    if [ "${GORT_PY_FORCE:-0}" = 1 ] || newer_than "$stamp" || [ -z "$pkgdir" ] \
        || [ ! -f "$pkgdir/libgort.so.0" ] || ! ls "$pkgdir"/_gort.*.so >/dev/null 2>&1; then
        t0=$(date +%s)
        # Record the time before the build: edits made during it count next time.
        touch "$stamp.new"
        if ! "$vpy" -m pip install "${pipq[@]}" --no-build-isolation --no-deps --force-reinstall \
                ./bindings/python >"$log" 2>&1; then
            cat "$log"
            rm -f "$stamp.new"
            say "$v: pip install ./bindings/python failed (log: $log)"
            failed+=("$v")
            continue
        fi
        mv -f "$stamp.new" "$stamp"
        what+=("gort $("$vpy" -m pip show gort 2>/dev/null | sed -n 's/^Version: //p') installed in $(( $(date +%s) - t0 )) s")
    else
        what+=("gort up to date")
    fi
    say "$v ($py): $venv: $(IFS=,; echo "${what[*]}" | sed 's/,/, /g')"
    ready+=("$v")
done

: >"$vroot/venvs.txt"
for v in "${ready[@]}"; do printf '%s\t%s\n' "$v" "$vroot_abs/venv-$v" >>"$vroot/venvs.txt"; done
say "ready: ${ready[*]:-none}${failed[*]:+; failed: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ] && [ ${#ready[@]} -gt 0 ]
