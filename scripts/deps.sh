#!/usr/bin/env bash
# deps.sh — make sure the tools that gort's build and `make test` need are
# installed (Debian/Ubuntu package names). Quick and silent-ish when
# everything is present; as root it installs what is missing with apt-get,
# otherwise it names the packages to install and fails.
#
#   cmake gcc make pkg-config            build + install_consumers test
#   libffi-dev                           native calls (src/ffi.c, test_ffi)
#   gcc sanitizer runtimes               ASan/UBSan/TSan stages
#   valgrind (+ <valgrind/valgrind.h>)   Valgrind stage, stack annotations
#   qemu-aarch64, aarch64-linux-gnu-gcc,
#   libc6-dev-arm64-cross                aarch64 cross stage
#   python3, go                          benchmarks (bench/run.py, bench/go)
#   git, dpkg-dev, unzip                 release artifacts (scripts/dist.sh)
#   python3-venv, python3-dev            Python binding (scripts/python-env.sh):
#                                        venvs and Python.h, for Debian's python3
#                                        when it is >= 3.10 (pyenv builds have both)
#   nodejs (>= 18), npm, Node-API headers
#   (nodejs ships /usr/include/node)     Node binding (node stage, JS demos)
set -euo pipefail

missing=()      # Debian packages to install
why=()          # what was missing, for the message

want() { # want <package> <description>
    missing+=("$1")
    why+=("$2")
}
have() { command -v "$1" >/dev/null 2>&1; }

have cmake || want cmake "cmake"
have gcc || want gcc "gcc"
have make || want make "make"
have pkg-config || want pkg-config "pkg-config"
have nm || want binutils "nm (binutils)"
pkg-config --exists libffi 2>/dev/null || want libffi-dev "libffi (libffi-dev: native calls, found by pkg-config)"
have setarch || want util-linux "setarch"
have valgrind || want valgrind "valgrind"
[ -f /usr/include/valgrind/valgrind.h ] || want valgrind "valgrind headers (<valgrind/valgrind.h>)"
have qemu-aarch64 || want qemu-user "qemu-aarch64 (qemu-user)"
have aarch64-linux-gnu-gcc || want gcc-aarch64-linux-gnu "aarch64-linux-gnu-gcc"
{ [ -f /usr/aarch64-linux-gnu/include/stdio.h ] && [ -f /usr/aarch64-linux-gnu/lib/libc.a ]; } \
    || want libc6-dev-arm64-cross "aarch64 glibc headers + static libc (libc6-dev-arm64-cross)"
# The fuzz stage (scripts/fuzz.sh): clang with libFuzzer's runtime.
have clang || want clang "clang (the fuzz stage)"
compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a" >/dev/null \
    || want libclang-rt-14-dev "libFuzzer runtime (libclang-rt-14-dev)"
have addr2line || want binutils "addr2line (binutils: the fault stage's call sites)"
have python3 || want python3 "python3"
# Release artifacts (scripts/dist.sh): git archive, CPack DEB + dpkg-shlibdeps,
# wheel/rock listings. (PyPI tools go into a local venv: build/dist-cache.)
have git || want git "git"
have dpkg-shlibdeps || want dpkg-dev "dpkg-shlibdeps (dpkg-dev)"
have unzip || want unzip "unzip"
# The Python binding's venvs (scripts/python-env.sh) use every CPython >= 3.10
# found; Debian's own python3 needs python3-venv (ensurepip) and python3-dev
# (Python.h) for that. Other pythons (pyenv) bring both or are skipped there.
if [ ! -x /usr/bin/python3 ] && ! have python3; then
    want python3-venv "python3 -m venv (python3-venv)"
    want python3-dev "Python.h (python3-dev)"
elif [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    /usr/bin/python3 -c 'import venv, ensurepip' >/dev/null 2>&1 \
        || want python3-venv "python3 -m venv (python3-venv)"
    pyinc=$(/usr/bin/python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null || true)
    [ -n "$pyinc" ] && [ -f "$pyinc/Python.h" ] || want python3-dev "Python.h for /usr/bin/python3 (python3-dev)"
fi
have node || want nodejs "node (nodejs >= 18)"
have npm || want npm "npm"
{ [ -f /usr/include/node/node_api.h ] || [ -f "$(dirname "$(command -v node 2>/dev/null || echo /x/x)")/../include/node/node_api.h" ]; } \
    || want nodejs "Node-API headers (/usr/include/node/node_api.h, Debian's nodejs)"
if ! have go && [ ! -x /usr/local/go/bin/go ]; then
    want golang-go "go"
fi
# The Lua binding (stage lua): Lua 5.4 + headers, SWIG, busted, luarocks.
have lua5.4 || want lua5.4 "lua5.4"
[ -f /usr/include/lua5.4/lua.h ] || want liblua5.4-dev "Lua 5.4 headers (liblua5.4-dev)"
have swig || want swig "swig"
[ -f /usr/bin/busted ] || want lua-busted "busted (lua-busted)"
have luarocks || want luarocks "luarocks"
# Sanitizer runtimes ship with gcc's libgcc-N-dev on Debian.
if have gcc; then
    gccmajor=$(gcc -dumpversion | cut -d. -f1)
    for rt in libasan.so libubsan.so libtsan.so; do
        case "$(gcc -print-file-name=$rt)" in
            /*) ;;
            *) want "libgcc-${gccmajor}-dev" "$rt (gcc sanitizer runtime)" ;;
        esac
    done
fi

if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all tools present"
    exit 0
fi

# Unique package list, in order.
pkgs=()
for p in "${missing[@]}"; do
    case " ${pkgs[*]-} " in *" $p "*) ;; *) pkgs+=("$p") ;; esac
done

echo "deps: missing:"
for w in "${why[@]}"; do echo "  - $w"; done

if [ "$(id -u)" -ne 0 ]; then
    echo "deps: not root; install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${pkgs[*]}" >&2
    exit 1
fi
if ! have apt-get; then
    echo "deps: no apt-get on this system; install the equivalents of: ${pkgs[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "deps: apt-get install ${pkgs[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
echo "deps: installed ${pkgs[*]}"
