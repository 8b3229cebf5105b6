#!/usr/bin/env python3
"""gort-abi.py — libgort's exported ABI against the version script and the
committed baseline.

    gort-abi.py symbols  --lib libgort.so.0 --map libgort.map [-o FILE]
        Write the Debian symbols file of the library (what libgort0 ships in
        DEBIAN/symbols): one line per exported symbol, "name@NODE minver",
        where the minimal version is the release that introduced NODE
        (GORT_0.1 -> 0.1.0, GORT_0.2 -> 0.2.0, GORT_1.2.3 -> 1.2.3).
    gort-abi.py check    --lib ... --map ... --baseline packaging/abi/libgort.0.symbols
        Fail (exit 1) when
          - an exported symbol is unversioned, or its version node is not a
            node of the map, or no `global:` pattern of that node matches it;
          - the SONAME differs from the baseline's;
          - a baseline symbol is gone, or now carries another version node
            (removed / changed: an ABI break);
          - a symbol that is not in the baseline carries a node that the
            baseline already has (added to a released node: it must go in a
            new node `GORT_X.Y { global: name; } GORT_prev;`).
        A new symbol in a new node is fine and is listed.
    gort-abi.py update   --lib ... --map ... --baseline FILE
        Rewrite the baseline from the library (after a deliberate change:
        a release that adds a node, or a SONAME bump with a new file).

Why a baseline and not only the map: the map exports `gort_*` by pattern, so
the map alone cannot tell that a function disappeared or was added to an
old node; the committed list can. The symbols file format is Debian's
(deb-symbols(5)), so the same file that the check reads is what
dpkg-shlibdeps uses to compute a dependent package's `libgort0 (>= X)`.

Tools: nm (NM env var, default "nm") and objdump (OBJDUMP, default "objdump")
from binutils.
"""
import argparse
import fnmatch
import os
import re
import subprocess
import sys

NODE_RE = re.compile(r"^GORT_(\d+)\.(\d+)(?:\.(\d+))?$")


def run(tool_env, default, args):
    tool = os.environ.get(tool_env) or default
    try:
        return subprocess.run([tool] + args, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit("gort-abi: %s %s failed: %s" % (tool, " ".join(args), getattr(e, "stderr", e)))


def soname(lib):
    m = re.search(r"^\s*SONAME\s+(\S+)", run("OBJDUMP", "objdump", ["-p", lib]), re.M)
    if not m:
        sys.exit("gort-abi: %s has no SONAME" % lib)
    return m.group(1)


def exports(lib):
    """[(name, node or None, nm type)] of the defined dynamic symbols,
    without the version nodes' own (absolute) symbols."""
    out = []
    for line in run("NM", "nm", ["-D", "--defined-only", lib]).splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        typ, sym = parts[-2], parts[-1]
        name, sep, node = sym.partition("@")
        node = node.lstrip("@") if sep else None
        if typ == "A" and (node == name or (node is None and NODE_RE.match(name))):
            continue  # the version node's own symbol (GORT_0.1, shown with or without @@)
        out.append((name, node, typ))
    return sorted(out)


def parse_map(path):
    """{node: (parent, [global patterns])} in file order (dicts keep order)."""
    with open(path) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"#[^\n]*", " ", text)
    nodes = {}
    for m in re.finditer(r"([A-Za-z_][\w.]*)\s*\{(.*?)\}\s*([A-Za-z_][\w.]*)?\s*;", text, re.S):
        name, body, parent = m.group(1), m.group(2), m.group(3)
        if not NODE_RE.match(name):
            sys.exit("gort-abi: %s: node %r is not named GORT_MAJOR.MINOR[.PATCH]" % (path, name))
        if parent and parent not in nodes:
            sys.exit("gort-abi: %s: node %s inherits from %s, which is not defined before it"
                     % (path, name, parent))
        globs, section = [], None
        for item in body.split(";"):
            item = item.strip()
            sec = re.match(r"^(global|local)\s*:\s*(.*)$", item, re.S)
            if sec:
                section, item = sec.group(1), sec.group(2).strip()
            if item and section == "global":
                globs.append(item)
        nodes[name] = (parent, globs)
    if not nodes:
        sys.exit("gort-abi: %s: no version node found" % path)
    return nodes


def minver(node):
    m = NODE_RE.match(node)
    return "%s.%s.%s" % (m.group(1), m.group(2), m.group(3) or "0")


def symbols_text(lib, nodes, package, dev_package):
    so = soname(lib)
    lines = ["%s %s #MINVER#" % (so, package),
             "* Build-Depends-Package: %s" % dev_package]
    # The node symbols first (dpkg-gensymbols lists them too), then the names.
    used = sorted({n for _, n, _ in exports(lib) if n})
    lines += [" %s@%s %s" % (n, n, minver(n)) for n in used if n in nodes]
    lines += [" %s@%s %s" % (name, node, minver(node))
              for name, node, _ in exports(lib) if node in nodes]
    return "\n".join(lines) + "\n"


def read_baseline(path):
    """(soname, {name: node}) of a Debian symbols file."""
    so, syms = None, {}
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not line or line.startswith("#") or line.startswith("*"):
                continue
            if not line.startswith(" "):
                so = line.split()[0]
                continue
            name, _, node = line.split()[0].partition("@")
            if name != node:
                syms[name] = node
    if so is None:
        sys.exit("gort-abi: %s: no 'SONAME package #MINVER#' line" % path)
    return so, syms


def check(lib, nodes, baseline):
    errors = []
    syms = exports(lib)
    for name, node, typ in syms:
        if node is None:
            errors.append("%s (%s) is exported without a version node" % (name, typ))
        elif node not in nodes:
            errors.append("%s@%s: node %s is not in the version script" % (name, node, node))
        elif not any(fnmatch.fnmatchcase(name, g) for g in nodes[node][1]):
            errors.append("%s@%s: no global pattern of node %s matches it" % (name, node, node))
    base_so, base = read_baseline(baseline)
    so = soname(lib)
    if so != base_so:
        errors.append("SONAME %s, baseline %s is for %s (a SONAME bump needs a new baseline file)"
                      % (so, baseline, base_so))
    now = {name: node for name, node, _ in syms}
    for name, node in sorted(base.items()):
        if name not in now:
            errors.append("removed: %s@%s (in the baseline, no longer exported)" % (name, node))
        elif now[name] != node:
            errors.append("changed: %s was @%s, is now @%s" % (name, node, now[name]))
    released = set(base.values())
    added = []
    for name, node in sorted(now.items()):
        if name in base or node is None:
            continue
        if node in released:
            errors.append("added to released node: %s@%s (put it in a new node "
                          "'GORT_X.Y { global: %s; } %s;' in the version script)"
                          % (name, node, name, list(nodes)[-1]))
        else:
            added.append("%s@%s" % (name, node))
    for a in added:
        print("gort-abi: new symbol %s" % a)
    for e in errors:
        print("gort-abi: FAIL: %s" % e)
    print("gort-abi: %s: %d exported, %d in baseline, %d new in new nodes, %d problem(s)"
          % (so, len(syms), len(base), len(added), len(errors)))
    return 1 if errors else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=["symbols", "check", "update"])
    ap.add_argument("--lib", required=True)
    ap.add_argument("--map", required=True)
    ap.add_argument("--baseline")
    ap.add_argument("--package", default="libgort0")
    ap.add_argument("--dev-package", default="libgort-dev")
    ap.add_argument("-o", "--output")
    a = ap.parse_args()
    nodes = parse_map(a.map)
    if a.mode == "check":
        if not a.baseline:
            ap.error("check needs --baseline")
        return check(a.lib, nodes, a.baseline)
    text = symbols_text(a.lib, nodes, a.package, a.dev_package)
    dest = a.baseline if a.mode == "update" else a.output
    if a.mode == "update" and not dest:
        ap.error("update needs --baseline")
    if dest:
        with open(dest + ".tmp", "w") as f:
            f.write(text)
        os.replace(dest + ".tmp", dest)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
