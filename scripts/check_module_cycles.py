#!/usr/bin/env python3
"""Fails when two source files of one crate import each other.

"Import" means naming the other file's module by path: `crate::a::...`, `super::a::...` (also
inside `use crate::{a::X, b::Y}` groups). A file's own inline modules (`mod tests { use
super::*; }`) are part of the file. Each such pair means the two files share a concern that one
of them should own; `.ci/run` runs this script, which prints every pair it finds.

Usage: scripts/check_module_cycles.py [CRATE_DIR ...] (default: every workspace crate with src/)
"""

import os
import re
import sys

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def module_files(src):
    """Maps each file module path (tuple) to its file, for one crate's src directory."""
    mods = {}
    for root, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, src)[:-3].split(os.sep)
            if rel in (["lib"], ["main"]):
                key = ()
            elif rel[-1] == "mod":
                key = tuple(rel[:-1])
            else:
                key = tuple(rel)
            # A binary's main.rs and the library's lib.rs are different crates: keep the lib.
            if key == () and () in mods and rel == ["main"]:
                continue
            if rel[0] == "bin":
                continue
            mods[key] = path
    return mods


def strip(text):
    """Removes string literals and comments, keeping line structure."""
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    text = re.sub(r"'(?:\\.|[^'\\])'", "' '", text)
    text = re.sub(r"/\*(?:.|\n)*?\*/", "", text)
    return "\n".join(line.split("//")[0] for line in text.split("\n"))


def expand_use_tree(prefix, tree):
    """`a::{b, c::{d}}` -> [prefix+a::b, prefix+a::c::d]."""
    tree = tree.strip()
    if not tree:
        return []
    m = re.match(r"^((?:" + IDENT + r"::)*)\{(.*)\}$", tree, re.S)
    if m:
        head = m.group(1)
        inner = m.group(2)
        parts, depth, cur = [], 0, ""
        for ch in inner:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        parts.append(cur)
        out = []
        for p in parts:
            out.extend(expand_use_tree(prefix + head, p))
        return out
    return [prefix + tree.split(" as ")[0].strip()]


def references(text):
    """Yields (inline module path inside the file, path string) for every crate::/super:: path."""
    code = strip(text)
    # Inline modules: where each `mod name {` block starts and ends.
    spans = []
    for m in re.finditer(r"\bmod\s+(" + IDENT + r")\s*\{", code):
        depth, i = 0, m.end() - 1
        while i < len(code):
            if code[i] == "{":
                depth += 1
            elif code[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        spans.append((m.start(), i, m.group(1)))

    def inline_at(pos):
        return tuple(name for (a, b, name) in spans if a <= pos <= b)

    for m in re.finditer(r"\buse\s+((?:crate|super)(?:::super)*)::(\{(?:[^;])*\})\s*;", code):
        for path in expand_use_tree(m.group(1) + "::", m.group(2)):
            yield inline_at(m.start()), path
    for m in re.finditer(r"\b((?:crate|super)(?:::super)*(?:::" + IDENT + r")+)", code):
        yield inline_at(m.start()), m.group(1)


def resolve(path, here, mods):
    """The file module a path names, or None (an item of the crate root, an external crate)."""
    parts = path.split("::")
    if parts[0] == "crate":
        base, rest = (), parts[1:]
    else:
        base = here
        while parts and parts[0] == "super":
            base = base[:-1]
            parts = parts[1:]
        rest = parts
    full = base + tuple(p for p in rest if p != "self")
    for n in range(len(full), 0, -1):
        if full[:n] in mods:
            return full[:n]
    return None


def check_crate(crate_dir):
    src = os.path.join(crate_dir, "src")
    mods = module_files(src)
    edges = {}
    for key, path in mods.items():
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for inline, ref in references(text):
            target = resolve(ref, key + inline, mods)
            if target is None or target == key:
                continue
            edges.setdefault(key, set()).add(target)
    pairs = []
    for a, targets in edges.items():
        for b in targets:
            if a < b and a in edges.get(b, set()):
                pairs.append((mods[a], mods[b]))
    return sorted(pairs)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    crates = sys.argv[1:] or sorted(
        os.path.join(root, d) for d in os.listdir(root) if os.path.isdir(os.path.join(root, d, "src"))
    )
    found = []
    for crate in crates:
        found.extend(check_crate(crate))
    for a, b in found:
        print(f"{os.path.relpath(a, root)} <-> {os.path.relpath(b, root)}: each names the other's module")
    if found:
        print(f"{len(found)} pair(s) of files import each other: move the shared names to the module that owns them")
        return 1
    print(f"no two files of a crate import each other ({len(crates)} crates)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
