"""Build and packaging of gort's Python binding (setuptools + cffi, API mode).

What `pip install ./bindings/python` / `pip wheel ./bindings/python` do here:

1. build_ext first builds the C library, libgort.so.0, from the repository's
   own sources (../../src/*.c and ../../src/ctx/ctx_<arch>.S, or _vendor/ in an
   sdist) with the same flags as CMake's RelWithDebInfo build (-O2 -g, asserts
   kept, -fvisibility=hidden + packaging/libgort.map, -Wall -Wextra -Werror),
   and puts it inside the package: gort/libgort.so.0, with include/gort.h as
   gort/include/gort.h. Objects are kept under build/ and only stale ones are
   recompiled (in parallel), so a rebuild after editing csrc/ is quick.
2. cffi (cffi_modules, gort_build.py) generates gort/_gort's C source, which
   is compiled and linked against that libgort.so.0 with RUNPATH $ORIGIN: the
   extension finds the library next to itself, and every extension in the
   process that links libgort.so.0 shares one engine.

Version: include/gort.h (GORT_VERSION_MAJOR/MINOR/PATCH) is the one source
of truth; the package's version is the library's.

Environment knobs: GORT_WITH_FFI=0 builds native calls as GORT_ENOSYS stubs
(the default when pkg-config finds no libffi); GORT_WERROR=0 drops -Werror from the libgort build (for a
compiler newer than the code); CC picks the C compiler (default: the one
Python was built with); GORT_BUILD_JOBS the parallel compiles (default: cpus).
"""
import hashlib
import os
import platform
import re
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

from setuptools import setup
from setuptools.command.build_ext import build_ext as _build_ext
from setuptools.command.sdist import sdist as _sdist

try:  # setuptools' own distutils (Python 3.12+ has no stdlib distutils)
    from setuptools._distutils.errors import CompileError
    from setuptools._distutils.sysconfig import get_config_var
except ImportError:  # pragma: no cover - very old setuptools
    from distutils.errors import CompileError
    from distutils.sysconfig import get_config_var

HERE = os.path.dirname(os.path.abspath(__file__))
VENDOR = os.path.join(HERE, "_vendor")
# Same rule as gort_build.py: an sdist carries the C sources in _vendor/.
ROOT = VENDOR if os.path.isdir(VENDOR) else os.path.abspath(os.path.join(HERE, "..", ".."))
SRC = os.path.join(ROOT, "src")
INCLUDE = os.path.join(ROOT, "include")
HEADER = os.path.join(INCLUDE, "gort.h")
VERSION_SCRIPT = os.path.join(ROOT, "packaging", "libgort.map")

LIBNAME = "libgort.so.0"       # SONAME of libgort (major version 0)
EXT_NAME = "gort._gort"


def gort_version():
    """"MAJOR.MINOR.PATCH" from include/gort.h (as gort_build.gort_version())."""
    with open(HEADER) as f:
        text = f.read()
    return ".".join(re.search(r"#define GORT_VERSION_%s (\d+)" % k, text).group(1)
                    for k in ("MAJOR", "MINOR", "PATCH"))


def gort_arch():
    m = platform.machine().lower()
    if m in ("x86_64", "amd64", "x64"):
        return "x86_64"
    if m in ("aarch64", "arm64") or m.startswith("armv8"):
        return "aarch64"
    sys.exit("gort: unsupported processor %r (supported: x86_64, aarch64)" % m)


def libgort_sources():
    c = sorted(os.path.join(SRC, f) for f in os.listdir(SRC) if f.endswith(".c"))
    asm = os.path.join(SRC, "ctx", "ctx_%s.S" % gort_arch())
    if not c or not os.path.exists(asm):
        sys.exit("gort: C sources not found under %s" % SRC)
    return c + [asm]


def libffi_flags():
    """(cflags, libs) of libffi from pkg-config, or None: native calls
    (src/ffi.c) are then built as GORT_ENOSYS stubs, as with CMake's
    GORT_WITH_FFI=OFF. GORT_WITH_FFI=0 in the environment forces that."""
    if os.environ.get("GORT_WITH_FFI", "1") in ("0", "OFF", "off", "no"):
        return None
    import subprocess
    try:
        out = [subprocess.run(["pkg-config", opt, "libffi"], check=True, capture_output=True,
                              text=True).stdout.split() for opt in ("--cflags", "--libs")]
    except (OSError, subprocess.CalledProcessError):
        print("gort: pkg-config does not find libffi: native calls are not built")
        return None
    return out[0], out[1]


def libgort_headers():
    out = [HEADER]
    for d in (SRC, os.path.join(SRC, "ctx")):
        out += [os.path.join(d, f) for f in os.listdir(d) if f.endswith(".h")]
    return out


def _mtime(path):
    try:
        return os.path.getmtime(path)
    except OSError:
        return -1.0


class build_ext(_build_ext):
    """build_ext that first builds libgort.so.0 into the package directory."""

    def _libgort_compiler(self):
        # A compiler of the same class as the extension's, but without Python's
        # CFLAGS (-O3 -DNDEBUG ...): libgort gets exactly CMake's flags.
        from setuptools._distutils.ccompiler import new_compiler
        cc = (os.environ.get("CC") or get_config_var("CC") or "cc").split()
        comp = new_compiler(compiler=self.compiler.compiler_type)
        comp.set_executables(compiler=cc, compiler_so=cc, linker_so=cc + ["-shared"])
        # distutils does not know .S (preprocessed assembly); gcc does.
        if ".S" not in comp.src_extensions:
            comp.src_extensions = list(comp.src_extensions) + [".S"]
        return comp

    def _have_valgrind_h(self, comp, tmpdir):
        src = os.path.join(tmpdir, "vg.c")
        with open(src, "w") as f:
            f.write("#include <valgrind/valgrind.h>\nint main(void) { return 0; }\n")
        try:
            comp.compile([src], output_dir=tmpdir)
            return True
        except CompileError:
            return False

    def build_libgort(self, dest_dir):
        comp = self._libgort_compiler()
        werror = os.environ.get("GORT_WERROR", "1") not in ("0", "OFF", "off", "no")
        common = ["-g", "-iquote", SRC]
        with tempfile.TemporaryDirectory() as tmp:
            have_vg = self._have_valgrind_h(comp, tmp)
        cflags = ["-std=c11", "-O2", "-fPIC", "-fvisibility=hidden",
                  "-ftls-model=initial-exec", "-Wall", "-Wextra"] + (["-Werror"] if werror else [])
        asflags = ["-fPIC", "-Wa,--noexecstack"]
        macros = [("_GNU_SOURCE", None), ("GORT_BUILDING_LIBRARY", "1"),
                  ("GORT_HAVE_VALGRIND_H", "1" if have_vg else "0")]
        ldflags = ["-pthread", "-Wl,-soname," + LIBNAME,
                   "-Wl,--version-script=" + VERSION_SCRIPT,
                   "-Wl,--no-undefined", "-Wl,-z,noexecstack"]
        ffi_flags = libffi_flags()
        if ffi_flags:
            macros.append(("GORT_HAVE_FFI", "1"))
            cflags += ffi_flags[0]
            ldflags += ffi_flags[1]

        # Objects live in a directory keyed by the compile commands, shared by
        # every Python version's build (the library does not depend on Python).
        key = hashlib.sha1(repr((comp.compiler_so, common, cflags, asflags, macros,
                                 INCLUDE, SRC)).encode()).hexdigest()[:10]
        objdir = os.path.join(os.path.dirname(os.path.abspath(self.build_temp)),
                              "libgort-%s-%s" % (gort_arch(), key))
        os.makedirs(objdir, exist_ok=True)

        sources = libgort_sources()
        newest_header = max(_mtime(h) for h in libgort_headers())
        objects, stale = [], []
        for src in sources:
            obj = comp.object_filenames([src], strip_dir=0, output_dir=objdir)[0]
            objects.append(obj)
            if self.force or _mtime(obj) < max(_mtime(src), newest_header):
                stale.append(src)
                os.makedirs(os.path.dirname(obj), exist_ok=True)

        def compile_one(src):
            extra = asflags if src.endswith(".S") else cflags
            comp.compile([src], output_dir=objdir, macros=macros, include_dirs=[INCLUDE],
                         debug=False, extra_preargs=common + extra)

        if stale:
            print("gort: compiling %d of %d libgort sources (%s)"
                  % (len(stale), len(sources), objdir))
            jobs = int(os.environ.get("GORT_BUILD_JOBS") or os.cpu_count() or 1)
            with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                for _ in pool.map(compile_one, stale):
                    pass

        os.makedirs(dest_dir, exist_ok=True)
        lib = os.path.join(dest_dir, LIBNAME)
        if self.force or _mtime(lib) < max([_mtime(o) for o in objects] + [_mtime(VERSION_SCRIPT)]):
            print("gort: linking %s" % lib)
            comp.link_shared_object(objects, LIBNAME, output_dir=dest_dir,
                                    extra_postargs=ldflags)
        # The public header ships inside the package (gort.get_include()).
        inc = os.path.join(dest_dir, "include")
        os.makedirs(inc, exist_ok=True)
        shutil.copy2(HEADER, os.path.join(inc, "gort.h"))
        return lib

    def build_extensions(self):
        pkgdir = self._pkgdirs()[0]
        lib = self.build_libgort(pkgdir)
        for ext in self.extensions:
            if ext.name != EXT_NAME:
                continue
            # -L<pkgdir> -l:libgort.so.0 -Wl,-rpath,$ORIGIN (no shell sees
            # these: $ORIGIN reaches the linker literally).
            ext.library_dirs = list(ext.library_dirs or []) + [pkgdir]
            ext.libraries = list(ext.libraries or []) + [":" + LIBNAME]
            ext.extra_link_args = list(ext.extra_link_args or []) + ["-Wl,-rpath,$ORIGIN"]
            # Relink when the library is rebuilt, recompile when the header changes.
            ext.depends = list(ext.depends or []) + [lib, HEADER]
        super().build_extensions()

    # libgort.so.0 and include/gort.h, relative to the package directory.
    EXTRA_FILES = (LIBNAME, os.path.join("include", "gort.h"))

    def _pkgdirs(self):
        """(package dir under build_lib, package dir in the source tree)."""
        build_py = self.get_finalized_command("build_py")
        inplace, self.inplace = self.inplace, False
        try:
            built = os.path.dirname(self.get_ext_fullpath(EXT_NAME))
        finally:
            self.inplace = inplace
        return built, os.path.abspath(build_py.get_package_dir("gort"))

    def copy_extensions_to_source(self):
        # setuptools builds --inplace into build_lib, then copies the
        # extension into the source tree: the library and header go along.
        super().copy_extensions_to_source()
        built, src = self._pkgdirs()
        for rel in self.EXTRA_FILES:
            os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
            self.copy_file(os.path.join(built, rel), os.path.join(src, rel), level=self.verbose)

    def get_output_mapping(self):
        mapping = dict(super().get_output_mapping()) \
            if hasattr(_build_ext, "get_output_mapping") else {}
        if self.inplace:
            built, src = self._pkgdirs()
            for rel in self.EXTRA_FILES:
                mapping[os.path.join(built, rel)] = os.path.join(src, rel)
        return mapping

    def get_outputs(self):
        outs = list(super().get_outputs())
        built, src = self._pkgdirs()
        base = src if self.inplace else built
        return outs + [os.path.join(base, rel) for rel in self.EXTRA_FILES]


class sdist(_sdist):
    """sdist that vendors the C sources (src/, include/, libgort.map) into
    _vendor/, so that the sdist builds on its own."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        vendor = os.path.join(base_dir, "_vendor")
        if os.path.abspath(vendor) == os.path.abspath(ROOT):
            return
        if os.path.exists(vendor):
            shutil.rmtree(vendor)
        ignore = shutil.ignore_patterns("*.o", "*.so", "*.a", "__pycache__")
        shutil.copytree(SRC, os.path.join(vendor, "src"), ignore=ignore)
        shutil.copytree(INCLUDE, os.path.join(vendor, "include"), ignore=ignore)
        os.makedirs(os.path.join(vendor, "packaging"))
        shutil.copy2(VERSION_SCRIPT, os.path.join(vendor, "packaging", "libgort.map"))


setup(
    version=gort_version(),
    packages=["gort"],
    package_data={"gort": ["py.typed", "*.pyi"]},
    include_package_data=False,
    cffi_modules=["gort_build.py:ffibuilder"],
    cmdclass={"build_ext": build_ext, "sdist": sdist},
    zip_safe=False,
)
