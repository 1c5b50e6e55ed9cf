#!/usr/bin/env python3
"""Finds import circles between the modules of each crate of the workspace.

Each source file is a node (its inline modules are part of it). A file depends on the file
that defines what it names, in a `use` or a path in code, through `crate::`, `super::`,
`self::`, a child module or a module a `use` bound, following `pub use` re-exports. A module
naming an ancestor is not counted (a child lives in its parent's namespace); a parent naming
its child is. `#[cfg(test)]` modules are left out. Prints one path per circle and exits 1
when there is one.

    python3 scripts/module_cycles.py
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
# shared/vendor holds a released crate carried with a patch (see Cargo.toml), not our code.
SKIP = {"target", "node_modules", ".venv", ".git", "vendor"}

COMMENT_OR_STRING = re.compile(
    r'//[^\n]*|/\*.*?\*/|b?r(#*)".*?"\1|b?"(?:\\.|[^"\\])*"|b?\'(?:\\.|[^\'\\])\'', re.S
)
MOD = re.compile(r"\bmod\s+(\w+)\s*([;{])")
USE = re.compile(r"\buse\s+([^;]+);")
PATH = re.compile(r"(?<![\w:])(\w+(?:\s*::\s*\w+)+)")
CFG_TEST = re.compile(r"#\[cfg\(test\)\]\s*(#\[[^\]]*\]\s*)*(pub(\([^)]*\))?\s*)?$")
PUB = re.compile(r"\bpub(\s*\([^)]*\))?\s*$")


def blank(text):
    """Comments and literals blanked out, line breaks kept."""
    return COMMENT_OR_STRING.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def is_test(text, at):
    return CFG_TEST.search(text[max(0, at - 200) : at]) is not None


def expand(tree, prefix=()):
    """`a::{b, c::{d as e}}` → (["a", "b"], None), (["a", "c", "d"], "e")."""
    tree = tree.strip().removeprefix("::")
    head, brace, rest = tree.partition("{")
    parts = [p.strip() for p in head.split("::") if p.strip()]
    if not brace:
        alias = None
        if parts and " as " in parts[-1]:
            parts[-1], alias = (s.strip() for s in parts[-1].split(" as "))
        yield [*prefix, *parts], alias
        return
    inner = rest.rsplit("}", 1)[0]
    depth, start = 0, 0
    for i, ch in enumerate(inner + ","):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            if item := inner[start:i].strip():
                yield from expand(item, (*prefix, *parts))
            start = i + 1


def scopes_of(text, path):
    """For each character, the module path it is in (inline modules included), or None
    inside a `#[cfg(test)]` module."""
    opens = {m.end(): (m.group(1), is_test(text, m.start())) for m in MOD.finditer(text) if m.group(2) == "{"}
    scopes, stack, depth = [], [], 0
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
            if i + 1 in opens:
                stack.append((*opens[i + 1], depth))
        test = any(t for _, t, _ in stack)
        scopes.append(None if test else (*path, *(n for n, _, _ in stack)))
        if ch == "}":
            if stack and stack[-1][2] == depth:
                stack.pop()
            depth -= 1
    return scopes


class Crate:
    def __init__(self, root_file):
        self.files = {}  # module path -> file
        self.text = {}  # file -> blanked text
        self.scopes = {}  # file -> scopes_of
        self.walk(root_file, ())
        self.modules = {}  # every module path, inline ones too -> its file
        for path, file in self.files.items():
            for scope in set(self.scopes[file]) - {None}:
                self.modules.setdefault(scope, file)
        self.file_module = {f: p for p, f in self.files.items()}

    def walk(self, file, path):
        self.files[path] = file
        text = self.text[file] = blank(file.read_text())
        self.scopes[file] = scopes_of(text, path)
        own_dir = file.parent if file.name in ("lib.rs", "main.rs", "mod.rs") else file.with_suffix("")
        for m in MOD.finditer(text):
            if m.group(2) == ";" and not is_test(text, m.start()):
                name = m.group(1)
                for child in (own_dir / f"{name}.rs", own_dir / name / "mod.rs"):
                    if child.exists():
                        self.walk(child, (*path, name))
                        break

    def uses(self, file):
        """(scope, segments, alias, is pub, is glob, offset) of each leaf of each `use`."""
        text, scopes = self.text[file], self.scopes[file]
        for m in USE.finditer(text):
            scope = scopes[m.start()]
            if scope is None:
                continue
            public = PUB.search(text[max(0, m.start() - 20) : m.start()]) is not None
            for segments, alias in expand(m.group(1)):
                if segments[-1:] == ["self"]:
                    segments = segments[:-1]
                glob = segments[-1:] == ["*"]
                if glob:
                    segments = segments[:-1]
                if segments:
                    yield scope, segments, alias, public, glob, m.start()

    def resolve(self, segments, scope, aliases, reexports):
        """(the module defining what `segments` names from `scope`, whether the path names
        that module itself), or None outside the crate."""
        first, rest = segments[0], list(segments[1:])
        if first == "crate":
            base = ()
        elif first in ("super", "self"):
            base, rest = scope, list(segments)
            while rest and rest[0] in ("super", "self"):
                base = base[:-1] if rest.pop(0) == "super" else base
        elif (*scope, first) in self.modules:
            base = (*scope, first)
        elif (scope, first) in aliases:
            base = aliases[(scope, first)]
        else:
            return None
        seen = set()
        while True:
            while rest and (*base, rest[0]) in self.modules:
                base = (*base, rest.pop(0))
            if not rest or (base, rest[0]) not in reexports or (base, rest[0]) in seen:
                return base, not rest
            seen.add((base, rest[0]))
            target, whole = reexports[(base, rest[0])]
            base, rest = target, rest[1:] if whole else rest

    def edges(self):
        reexports = {}  # (module, name) -> (defining module, the name is that module)
        for _ in range(3):  # re-exports of re-exports
            for file in self.files.values():
                for scope, segments, alias, public, glob, _ in self.uses(file):
                    if public and not glob:
                        hit = self.resolve(segments, scope, {}, reexports)
                        if hit is not None:
                            reexports[(scope, alias or segments[-1])] = hit
        edges = {}  # (file, file) -> line of the first evidence
        for file in self.files.values():
            text, scopes = self.text[file], self.scopes[file]
            aliases, found = {}, []
            for scope, segments, alias, _, glob, at in self.uses(file):
                hit = self.resolve(segments, scope, aliases, reexports)
                if hit is None:
                    continue
                if hit[1] and not glob:
                    # A module's name bound: the paths through it are the dependencies.
                    aliases[(scope, alias or segments[-1])] = hit[0]
                else:
                    found.append((hit[0], at))
            in_use = [range(m.start(), m.end()) for m in USE.finditer(text)]
            for m in PATH.finditer(text):
                if scopes[m.start()] is None or any(m.start() in r for r in in_use):
                    continue
                segments = [s.strip() for s in m.group(1).split("::")]
                hit = self.resolve(segments, scopes[m.start()], aliases, reexports)
                if hit is not None:
                    found.append((hit[0], m.start()))
            own = self.file_module[file]
            for target, at in found:
                to = self.modules[target]
                theirs = self.file_module[to]
                if to != file and own[: len(theirs)] != theirs:  # not itself nor an ancestor
                    edges.setdefault((file, to), text.count("\n", 0, at) + 1)
        return edges


def circles(nodes, edges):
    """Strongly connected components of more than one file (Tarjan), and the graph."""
    graph = {n: [] for n in nodes}
    for a, b in edges:
        graph[a].append(b)
    index, low, on, stack, out = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
                on.discard(comp[-1])
            if len(comp) > 1:
                out.append(comp)

    for n in nodes:
        if n not in index:
            visit(n)
    return out, graph


def shortest_cycle(comp, graph):
    start = min(comp)
    paths, queue = {start: [start]}, [start]
    while queue:
        v = queue.pop(0)
        for w in graph[v]:
            if w == start:
                return paths[v] + [start]
            if w in comp and w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    return comp


def main():
    found = counted = 0
    for manifest in sorted(ROOT.rglob("Cargo.toml")):
        if SKIP & set(manifest.relative_to(ROOT).parts):
            continue
        for root in ("src/lib.rs", "src/main.rs"):
            if not (manifest.parent / root).exists():
                continue
            crate = Crate(manifest.parent / root)
            edges = crate.edges()
            counted += len(crate.files)
            comps, graph = circles(list(crate.files.values()), edges)
            for comp in comps:
                found += 1
                cycle = shortest_cycle(comp, graph)
                print("circle:")
                for a, b in zip(cycle, cycle[1:]):
                    print(f"  {a.relative_to(ROOT)}:{edges[(a, b)]} → {b.relative_to(ROOT)}")
    if found:
        print(f"{found} import circle(s) in {counted} modules.")
        sys.exit(1)
    print(f"No import circles in {counted} modules.")


if __name__ == "__main__":
    main()
