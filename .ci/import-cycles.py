#!/usr/bin/env python3
"""Lists import circles between tapedeck's modules.

A module is a file under src/ (a folder's mod.rs is the folder). An arrow
A -> B is any `crate::B...` or `super::...` path in A that names B, or a
path that starts at one of A's child modules (inline paths included,
comments, strings and `mod tests` excluded). An arrow from a module to one
of its own ancestors is not counted: a folder's parts using what its
mod.rs declares for them (`super::Call`) is the folder's structure, not a
circle; its mod.rs calling back into a part that calls it is caught only
when another module closes the loop. Prints every strongly connected
component of more than one module, and exits 1 when there is one.

    python3 .ci/import-cycles.py [src]
"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "src"
mods = {}
for dirpath, _, files in os.walk(root):
    for f in files:
        if not f.endswith(".rs") or f in ("main.rs",) and dirpath == root:
            continue
        rel = os.path.relpath(os.path.join(dirpath, f), root)[:-3]
        parts = rel.split(os.sep)
        if parts[-1] in ("mod", "lib"):
            parts = parts[:-1]
        mods["::".join(parts)] = os.path.join(dirpath, f)


def strip(text):
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text)
    # Test modules may reach anything.
    return re.split(r"#\[cfg\(test\)\]\s*mod tests", text)[0]


def resolve(path):
    """The longest known module named by a `::` path."""
    parts = path.split("::")
    for n in range(len(parts), 0, -1):
        name = "::".join(parts[:n])
        if name in mods:
            return name
    return None


edges = {m: set() for m in mods}
for m, file in mods.items():
    text = strip(open(file, encoding="utf-8").read())
    here = m.split("::") if m else []
    base = here
    # use-trees: expand `a::{b, c::d}` into paths.
    for use in re.findall(r"\buse\s+([^;]+);", text):
        stack = [("", use.replace("\n", " "))]
        while stack:
            prefix, tree = stack.pop()
            tree = tree.strip()
            brace = tree.find("{")
            if brace == -1:
                for item in [tree]:
                    p = (prefix + item).split(" as ")[0].strip()
                    if p:
                        text += f"\n{p}\n"
                continue
            head, body = tree[:brace], tree[brace + 1 : tree.rfind("}")]
            depth, start = 0, 0
            for i, c in enumerate(body + ","):
                if c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                elif c == "," and depth == 0:
                    stack.append((prefix + head, body[start:i]))
                    start = i + 1
    # Paths that start at a child module (`mod x;` here, then `x::y`).
    for child in re.findall(r"\bmod\s+(\w+)\s*;", text):
        if re.search(r"(?<![\w:])" + child + r"::", text):
            t = resolve("::".join(here + [child]))
            if t is not None:
                edges[m].add(t)
    for match in re.finditer(r"\b((?:crate|super)(?:::\w+)+)", text):
        words = match.group(1).split("::")
        if words[0] == "crate":
            target = words[1:]
        else:
            cur = list(base)
            while words and words[0] == "super":
                words = words[1:]
                cur = cur[:-1]
            target = cur + words
        t = resolve("::".join(target))
        is_ancestor = t is not None and (t == "" or m.startswith(t + "::"))
        if t is not None and t != m and not is_ancestor:
            edges[m].add(t)
    if m in ("",):
        edges[m].clear()  # lib.rs declares everything

# Tarjan's strongly connected components.
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            sccs.append(sorted(comp))


for v in sorted(edges):
    if v not in index:
        visit(v)
for comp in sccs:
    inner = {a: sorted(b for b in edges[a] if b in comp) for a in comp}
    print("circle: " + "; ".join(f"{a} -> {', '.join(bs)}" for a, bs in inner.items()))
print(f"{len(mods)} modules, {sum(len(e) for e in edges.values())} arrows, {len(sccs)} circles")
sys.exit(1 if sccs else 0)
