"""Imports point one way (DESIGN.md, Layers): model imports nothing else from canal; store and
policy never import services or interfaces; services never import interfaces."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "canal"

LAYER = {
    "model": 1,
    "analysis": 4,
    "errors": 0,
    "clock": 0,
    "config": 0,
    "store": 2,
    "policy": 3,
    "accounts": 4,
    "audit": 4,
    "assist": 4,
    "ingest": 4,
    "records": 4,
    "exchange": 4,
    "demo": 5,  # seeds a whole installation through the composition root
    "app": 5,
    "web": 6,
    "cli": 6,
}


def _layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "canal" or len(parts) < 2:
        return None
    return LAYER.get(parts[1])


def test_every_package_has_a_layer():
    packages = {p.stem if p.is_file() else p.name for p in SRC.iterdir()}
    packages -= {"__init__", "__main__", "__pycache__", "py"}
    assert packages <= set(LAYER), packages - set(LAYER)


def test_imports_point_down():
    problems = []
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC.parent).with_suffix("")
        own = ".".join(relative.parts)
        own_layer = _layer_of(own)
        if own_layer is None:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                target = node.module
            elif isinstance(node, ast.Import):
                target = node.names[0].name
            else:
                continue
            target_layer = _layer_of(target)
            if target_layer is None or target.split(".")[1] == own.split(".")[1]:
                continue
            if target_layer > own_layer:
                problems.append(f"{own} imports {target}")
    assert problems == []
