"""Split one big module of the package into a package of focused modules (a refactoring aid).

Usage: python tools/split_module.py PLAN.json

The plan names the module (``src/virtlab/lxd.py``), the package docstring, and the submodules
with the top-level names each gets (exact names or ``re:`` patterns; the first match wins; a
``*`` submodule takes the rest). Every submodule keeps the original's imports (ruff then removes
the unused ones) and imports what it uses from its siblings; the package ``__init__`` re-exports
every top-level name (private ones too) so ``virtlab.lxd.X`` keeps working. Comment lines right
above a definition travel with it. It refuses a plan whose sibling imports form a cycle.
"""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path


def _names_defined(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    out: list[str] = []
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    for t in targets:
        for n in ast.walk(t):
            if isinstance(n, ast.Name):
                out.append(n.id)
    return out


def _used(nodes: list[ast.stmt]) -> set[str]:
    used: set[str] = set()
    for node in nodes:
        for n in ast.walk(node):
            if isinstance(n, ast.Name):
                used.add(n.id)
    return used


def main(plan_path: str) -> int:
    plan = json.loads(Path(plan_path).read_text())
    src = Path(plan["module"])
    text = src.read_text()
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text)
    pkg_name = "virtlab." + src.stem
    body = tree.body
    doc_end = 0
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        doc_end = body[0].end_lineno or 0
        body = body[1:]
    header: list[str] = []
    all_seg = ""
    blocks: list[tuple[list[str], ast.stmt, str]] = []  # (names, node, source)
    prev_end = doc_end
    for node in body:
        start = node.lineno
        if getattr(node, "decorator_list", None):
            start = min(d.lineno for d in node.decorator_list)  # type: ignore[attr-defined]
        # attach the comment lines right above
        s = start
        while s - 1 > prev_end and lines[s - 2].lstrip().startswith("#"):
            s -= 1
        seg = "".join(lines[s - 1:node.end_lineno])
        prev_end = node.end_lineno or start
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            header.append(seg.split("  # noqa")[0].rstrip() + "\n")
            continue
        names = _names_defined(node)
        if names == ["__all__"]:  # the package's list of public names stays in __init__
            all_seg = seg
            continue
        blocks.append((names, node, seg))

    subs: dict[str, list[str]] = plan["submodules"]
    rest = next((k for k, v in subs.items() if v == "*"), None)

    def target(name: str) -> str | None:
        for sub, pats in subs.items():
            if pats == "*":
                continue
            for p in pats:
                if (p.startswith("re:") and re.fullmatch(p[3:], name)) or p == name:
                    return sub
        return rest

    assigned: dict[str, list[tuple[list[str], ast.stmt, str]]] = {k: [] for k in subs}
    owner: dict[str, str] = {}
    for names, node, seg in blocks:
        if not names:  # a bare statement (e.g. atexit.register(f)): goes with what it uses
            used = _used([node])
            sub = next((owner[u] for u in used if u in owner), rest)
        else:
            sub = target(names[0])
        if sub is None:
            raise SystemExit(f"no submodule for {names} (line {node.lineno})")
        assigned[sub].append((names, node, seg))
        for n in names:
            owner.setdefault(n, sub)

    clash = set(subs) & set(owner)
    if clash:  # the package re-exports the names, which would hide the submodules of that name
        raise SystemExit(f"submodule names equal to top-level names: {sorted(clash)}")
    deps: dict[str, set[str]] = {}
    out_files: dict[str, str] = {}
    for sub, items in assigned.items():
        defined = {n for names, _, _ in items for n in names}
        used = _used([node for _, node, _ in items])
        imports: dict[str, list[str]] = {}
        for u in sorted(used - defined):
            if u in owner and owner[u] != sub:
                imports.setdefault(owner[u], []).append(u)
        deps[sub] = set(imports)
        sib = "".join(f"from {pkg_name}.{m} import {', '.join(ns)}\n" for m, ns in sorted(imports.items()))
        doc = plan["docs"].get(sub, sub)
        code = "\n\n\n".join(seg.rstrip("\n") for _, _, seg in items)
        fut = [h for h in header if "__future__" in h]
        other = [h for h in header if "__future__" not in h]
        out_files[sub] = (f'"""{doc}"""\n' + "".join(fut) + "\n" + "".join(other) + sib
                          + "\n\n" + code + "\n")

    # cycle check (DFS)
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        if state.get(m) == 1:
            raise SystemExit("cycle: " + " -> ".join(path + [m]))
        if state.get(m) == 2:
            return
        state[m] = 1
        for d in deps[m]:
            visit(d, path + [m])
        state[m] = 2

    for m in deps:
        visit(m, [])

    pkg = src.with_suffix("")
    pkg.mkdir()
    order: list[str] = []

    def topo(m: str) -> None:
        if m in order:
            return
        for d in sorted(deps[m]):
            topo(d)
        order.append(m)

    for m in subs:
        topo(m)
    for sub, body_text in out_files.items():
        (pkg / f"{sub}.py").write_text(body_text)
    init_doc = "".join(lines[:doc_end]) if doc_end else f'"""{pkg_name}"""\n'
    init = [init_doc.rstrip("\n") + "\n", "# ruff: noqa: F401  (re-exports: the package's public names stay where they were)\n",
            "from __future__ import annotations\n\n"]
    for m in order:
        names = [n for names_, _, _ in assigned[m] for n in names_]
        names = list(dict.fromkeys(names))
        if names:
            init.append(f"from {pkg_name}.{m} import (\n" + "".join(f"    {n},\n" for n in names) + ")\n")
    if all_seg:
        init.append("\n" + all_seg.rstrip("\n") + "\n")
    (pkg / "__init__.py").write_text("".join(init))
    subprocess.run(["git", "rm", "-q", str(src)], check=True)
    print(f"{src} -> {pkg}/: " + ", ".join(f"{m}({len(assigned[m])})" for m in order))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
