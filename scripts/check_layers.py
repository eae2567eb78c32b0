#!/usr/bin/env python3
"""The layering rules of app/src, checked from the source (run by scripts/test.sh).

1. The platform half (app/src/platform/) knows no domain: none of its files names a module of
   the crate outside `platform` (`crate::services`, `crate::{domain::..}`, `policy_service::api`).
2. No import circles between concerns. A concern is a folder of app/src (`api`, `services`, ...)
   or of app/src/platform (`platform/cache`, ...); a file on its own is a concern too. An edge
   A -> B is any path from a file of A that names B; a concern's own files may name each other.

Usage: check_layers.py [app/src]. Prints every violation and exits 1 if there is one.
"""
import re
import sys
from pathlib import Path

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else "app/src")
PLATFORM = "platform"
# Not concerns: the crate roots, which only declare modules.
ROOT_FILES = {"lib.rs", "main.rs"}


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def without_tests(text):
    """Unit tests may reach anywhere (a test module at the end of a file)."""
    m = re.search(r"#\[cfg\(test\)\]\s*mod\s+tests\s*\{", text)
    return text[: m.start()] if m else text


def expand(text, start):
    """The paths of a use-tree group starting after `{` at `start`: ['a::b', 'c', ...]."""
    depth, item, items, i = 1, "", [], start
    while i < len(text) and depth:
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if depth == 0 or (ch == "," and depth == 1):
            items.append(item.strip())
            item = ""
        else:
            item += ch
        i += 1
    out = []
    for it in items:
        if not it:
            continue
        m = re.match(r"([A-Za-z_][\w]*(?:::[A-Za-z_]\w*)*)(::\{)?", it)
        if not m:
            continue
        if m.group(2):
            out += [m.group(1) + "::" + sub for sub in expand(it, m.end())]
        else:
            out.append(m.group(1))
    return out


def paths(text, root):
    """Every path that starts at `root` (crate, policy_service)."""
    found = []
    for m in re.finditer(r"\b" + root + r"::(\{)?", text):
        if m.group(1):
            found += expand(text, m.end())
        else:
            p = re.match(r"[A-Za-z_]\w*(?:::[A-Za-z_]\w*)*", text[m.end():])
            if p:
                found.append(p.group(0))
    return found


def concern(module):
    """`platform::cache::l1` -> `platform/cache`; `api::body` -> `api`."""
    parts = module.split("::")
    if parts[0] == PLATFORM and len(parts) > 1:
        return f"{PLATFORM}/{parts[1]}"
    return parts[0]


def module_of(file):
    rel = file.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "mod":
        parts.pop()
    return parts


def main():
    problems, edges = [], {}
    for file in sorted(ROOT.rglob("*.rs")):
        rel = file.relative_to(ROOT)
        if str(rel) in ROOT_FILES:
            continue
        text = without_tests(strip_comments(file.read_text()))
        here = concern("::".join(module_of(file)))
        for root in ("crate", "policy_service"):
            for p in paths(text, root):
                first = p.split("::")[0]
                if first in ("self",):
                    continue
                there = concern(p)
                if here.startswith(PLATFORM + "/") or here == PLATFORM:
                    if first != PLATFORM:
                        problems.append(f"{rel}: the platform names the domain: {root}::{p}")
                if there != here and there != PLATFORM:
                    edges.setdefault(here, {}).setdefault(there, str(rel))
    # Circles: a depth-first search for back edges, each reported once by its members.
    seen_cycles, state, stack = set(), {}, []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, {})):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):]
                key = frozenset(cycle)
                if key not in seen_cycles:
                    seen_cycles.add(key)
                    hops = " -> ".join(
                        f"{a} ({edges[a][b]})" for a, b in zip(cycle, cycle[1:] + [nxt])
                    )
                    problems.append(f"import circle: {hops} -> {nxt}")
            elif not state.get(nxt):
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if not state.get(node):
            visit(node)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} layering problem(s) in {ROOT}", file=sys.stderr)
        return 1
    print(f"layers: the platform names no domain module; no import circles among {len(edges)} concerns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
