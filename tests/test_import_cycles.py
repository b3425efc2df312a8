"""0 import cycles in srharness, imports inside functions included (the `acyclic_siblings`
contract of pyproject.toml checks the same in CI with lint-imports): a lower layer never imports an
upper one, the upper hands in what the lower needs (registry.provide, Protocol.catalogue)."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp")
ROOT = Path(__file__).resolve().parents[1]


def _edges(graph, depth: int) -> dict[str, set[str]]:
    top = lambda m: ".".join(m.split(".")[:depth])     # noqa: E731
    edges: dict[str, set[str]] = {}
    for m in graph.modules:
        for i in graph.find_modules_directly_imported_by(m):
            a, b = top(m), top(i)
            if a != b and a.count(".") == depth - 1 and b.count(".") == depth - 1:
                edges.setdefault(a, set()).add(b)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def test_no_cycle_between_srharness_modules_and_packages():
    graph = grimp.build_graph("srharness", include_external_packages=False)
    assert _cycles(_edges(graph, 2)) == []
    # the ones issue 19 named, by the import that made each
    for low, high in [("srharness.registry", "srharness.backends"), ("srharness.registry", "srharness.hardware"),
                      ("srharness.registry", "srharness.protocols"), ("srharness.runners", "srharness.perf_gpu")]:
        assert not graph.chain_exists(importer=low, imported=high, as_packages=True), f"{low} imports {high}"


def test_the_no_cycles_contract_is_in_pyproject():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert any(c["type"] == "acyclic_siblings" and c["ancestors"] == ["srharness"] for c in contracts)


def test_plugins_still_register_backends_hardware_and_protocols_through_the_registry():
    from srharness import registry
    from srharness.backends import BACKENDS
    from srharness.hardware import HARDWARE
    from srharness.protocols import PROTOCOLS
    registry.load_plugins()
    assert "torch" in BACKENDS and "cpu" in HARDWARE and "benchmark" in PROTOCOLS
    assert {"backend", "hardware", "protocol"} <= set(registry._PROVIDERS)
    assert {t.kind for t in registry.TABLES} >= {"model", "backend", "hardware"}
