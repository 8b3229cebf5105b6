"""check_wheel.py — what a gort wheel may contain (scripts/dist-python.sh).

    python check_wheel.py WHEEL --version X.Y.Z --python 3.X [--forbid PATH ...]

Fails (exit 1, one line per problem) unless
  - the file name is gort-X.Y.Z-cp3X-cp3X-manylinux_*_<arch>.whl and the
    METADATA says Version: X.Y.Z and Requires-Dist cffi;
  - every file is one of: gort/*.py, gort/*.pyi, gort/py.typed,
    gort/_gort*.so, gort/libgort.so.0, gort/include/gort.h, or the
    .dist-info files (no tests, no C sources, no objects), or libffi as
    grafted by auditwheel into gort.libs/;
  - no file contains a --forbid path (the source checkout, build and cache
    directories, pip's temp dirs): no build paths leak into the binaries;
  - gort/_gort*.so needs libgort.so.0 and has RUNPATH $ORIGIN (plus
    $ORIGIN/../gort.libs when auditwheel grafted libffi, which libgort.so.0's
    RUNPATH must then name too), libgort.so.0 has the SONAME libgort.so.0, and
    neither needs a library that is neither bundled nor in the manylinux
    policy.
"""
import argparse
import fnmatch
import os
import re
import subprocess
import sys
import tempfile
import zipfile

ALLOWED = ["gort/*.py", "gort/*.pyi", "gort/py.typed", "gort/_gort*.so",
           "gort/libgort.so.0", "gort/include/gort.h",
           # libffi, grafted by auditwheel when libgort is built with the
           # native-call API (libffi is not in the manylinux policy)
           "gort.libs/libffi-*.so*"]


def dynamic(path):
    out = subprocess.run(["readelf", "-d", path], check=True, capture_output=True, text=True,
                         env=dict(os.environ, LC_ALL="C")).stdout
    return {k: re.findall(r"\(%s\).*\[(.*)\]" % k, out) for k in ("NEEDED", "RUNPATH", "RPATH", "SONAME")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("wheel")
    ap.add_argument("--version", required=True)
    ap.add_argument("--python", required=True)
    ap.add_argument("--forbid", action="append", default=[])
    a = ap.parse_args()
    problems = []
    tag = "cp" + a.python.replace(".", "")
    name = os.path.basename(a.wheel)
    if not re.match(r"^gort-%s-%s-%s-manylinux_\d+_\d+_\w+(\.manylinux\w+)*\.whl$"
                    % (re.escape(a.version), tag, tag), name):
        problems.append("file name %s is not gort-%s-%s-%s-manylinux_*.whl" % (name, a.version, tag, tag))
    distinfo = "gort-%s.dist-info/" % a.version
    with zipfile.ZipFile(a.wheel) as z, tempfile.TemporaryDirectory() as tmp:
        names = [n for n in z.namelist() if not n.endswith("/")]
        for n in names:
            print("  %8d  %s" % (z.getinfo(n).file_size, n))
            if not (n.startswith(distinfo) or any(fnmatch.fnmatchcase(n, p) for p in ALLOWED)):
                problems.append("unexpected file in the wheel: %s" % n)
            data = z.read(n)
            for f in a.forbid:
                if f and f.encode() in data:
                    problems.append("%s contains the build path %s" % (n, f))
        meta = z.read(distinfo + "METADATA").decode()
        if not re.search(r"^Version: %s$" % re.escape(a.version), meta, re.M):
            problems.append("METADATA Version is not %s" % a.version)
        if not re.search(r"^Requires-Dist: cffi", meta, re.M):
            problems.append("METADATA does not require cffi")
        exts = [n for n in names if fnmatch.fnmatchcase(n, "gort/_gort*.so")]
        if len(exts) != 1 or "gort/libgort.so.0" not in names:
            problems.append("expected one gort/_gort*.so and gort/libgort.so.0, got %s" % exts)
        else:
            z.extract(exts[0], tmp)
            z.extract("gort/libgort.so.0", tmp)
            ext = dynamic(os.path.join(tmp, exts[0]))
            lib = dynamic(os.path.join(tmp, "gort/libgort.so.0"))
            print("  %s: NEEDED %s RUNPATH %s RPATH %s" % (exts[0], ext["NEEDED"], ext["RUNPATH"], ext["RPATH"]))
            print("  gort/libgort.so.0: SONAME %s NEEDED %s RUNPATH %s RPATH %s"
                  % (lib["SONAME"], lib["NEEDED"], lib["RUNPATH"], lib["RPATH"]))
            if "libgort.so.0" not in ext["NEEDED"]:
                problems.append("%s does not link libgort.so.0" % exts[0])
            # When auditwheel grafted libffi it appends its graft directory
            # (and writes DT_RPATH instead of DT_RUNPATH: either is accepted).
            graft = any(n.startswith("gort.libs/") for n in names)
            ext_path = ext["RUNPATH"] or ext["RPATH"]
            lib_path = ":".join(lib["RUNPATH"] or lib["RPATH"]).split(":")
            ok_paths = [["$ORIGIN"]] + ([["$ORIGIN:$ORIGIN/../gort.libs"]] if graft else [])
            if ext_path not in ok_paths:
                problems.append("%s RUNPATH is %s, not $ORIGIN%s" % (
                    exts[0], ext_path, " (+ $ORIGIN/../gort.libs)" if graft else ""))
            if graft and "$ORIGIN/../gort.libs" not in lib_path:
                problems.append("libgort.so.0 needs gort.libs/ but its RUNPATH is %s" % lib_path)
            if lib["SONAME"] != ["libgort.so.0"]:
                problems.append("libgort.so.0 has SONAME %s" % lib["SONAME"])
            for so, d in ((exts[0], ext), ("gort/libgort.so.0", lib)):
                for need in d["NEEDED"]:
                    grafted = "gort.libs/" + need in names
                    if need != "libgort.so.0" and not grafted and not re.match(
                            r"^(libc|libm|libpthread|libdl|librt|ld-linux[-\w]*)\.so\.\d+$", need):
                        problems.append("%s needs %s, which is neither bundled nor in the manylinux policy"
                                        % (so, need))
    for p in problems:
        print("check_wheel: FAIL: %s" % p)
    print("check_wheel: %s: %d files, %d problem(s)" % (name, len(names), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
