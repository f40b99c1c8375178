"""The import layers hold, read from the source (lazy imports inside functions included): the
leaves import nothing above them, settings nothing above the catalog, the API not the workers
(except app.py, which composes the process), and no package another's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "fluxhost"
# module (or package) -> the fluxhost modules it may import (prefixes).
ALLOWED = {
    "fluxhost.kinds": (),
    "fluxhost.shipped": (),
    "fluxhost.modes": (),
    "fluxhost.catalog": ("fluxhost.catalog", "fluxhost.kinds", "fluxhost.wire"),
    "fluxhost.settings": ("fluxhost.catalog", "fluxhost.kinds", "fluxhost.modes",
                          "fluxhost.shipped"),
}
# package -> fluxhost packages it must not import, and the files excused.
FORBIDDEN = {
    "fluxhost.api": (("fluxhost.worker",), {"fluxhost.api.app"}),
    "fluxhost.planning": (("fluxhost.worker", "fluxhost.api", "fluxhost.engine"), set()),
}


def modules() -> dict[str, list[tuple[str, list[str]]]]:
    """Each module's fluxhost imports: (imported module, names taken from it)."""
    found: dict[str, list[tuple[str, list[str]]]] = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        imports = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "fluxhost":
                imports += [(f"fluxhost.{a.name}", []) for a in node.names]  # a subpackage
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imports.append((node.module, [a.name for a in node.names]))
            elif isinstance(node, ast.Import):
                imports += [(a.name, []) for a in node.names]
        found[name] = [(m, names) for m, names in imports if m.startswith("fluxhost")]
    return found


MODULES = modules()


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("layer", list(ALLOWED))
def test_low_layers_import_nothing_above_them(layer: str) -> None:
    allowed = ALLOWED[layer]
    for module, imports in MODULES.items():
        if _within(module, layer):
            bad = [m for m, _ in imports if not any(_within(m, a) for a in allowed)]
            assert not bad, (module, bad)


@pytest.mark.parametrize("package", list(FORBIDDEN))
def test_packages_do_not_import_what_sits_above_them(package: str) -> None:
    forbidden, excused = FORBIDDEN[package]
    for module, imports in MODULES.items():
        if _within(module, package) and module not in excused:
            bad = [m for m, _ in imports if any(_within(m, f) for f in forbidden)]
            assert not bad, (module, bad)


def test_no_package_imports_another_packages_private_names() -> None:
    offences = []
    for module, imports in MODULES.items():
        package = ".".join(module.split(".")[:2])
        for imported, names in imports:
            if _within(imported, package):
                continue
            private = [n for n in [*names, *imported.split(".")]
                       if n.startswith("_") and not n.endswith("__")]
            if private:
                offences.append((module, imported, private))
    assert offences == []
