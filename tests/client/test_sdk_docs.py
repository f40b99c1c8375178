"""docs/sdk.md stays true to the SDK: its examples parse and import what exists, and it lists
every typed method."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

from fluxhost.client import ENDPOINT_MODELS, method_name

DOC = Path(__file__).resolve().parents[2] / "docs" / "sdk.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_examples_parse_and_import_what_exists() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 8
    for block in blocks:
        tree = ast.parse(block)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module.startswith("fluxhost"):
                module = importlib.import_module(node.module)
                missing = [a.name for a in node.names if not hasattr(module, a.name)]
                assert not missing, (node.module, missing)


def test_every_typed_method_is_listed() -> None:
    text = DOC.read_text()
    assert all(f"`{method_name(e)}`" in text for e in ENDPOINT_MODELS)
