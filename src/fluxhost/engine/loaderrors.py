"""Why a model failed to load, in one line an operator can act on.

diffusers and transformers report a failed load as a chain of exceptions whose last message is
often generic ("... Please check out the root cause in the stacktrace above" when the hub could
not be asked and nothing was cached). The useful part -- a gated repository, no network, a
directory that is not a pipeline -- sits somewhere in `__cause__` / `__context__`. `classify`
walks that chain and names the likely cause; `ModelLoadError` carries it with the kind and source
so the task's `details.error`, /ready and the log all say the same thing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from fluxhost.engine.types import EngineError

# The causes, as they appear after "cannot load the <kind> model from <source>: ".
CAUSE_GATED = (
    "gated or private on the hub: it needs a token with access (accept the model's license on "
    "huggingface.co, then set HF_TOKEN or run `hf auth login`)"
)
CAUSE_NOT_ON_HUB = (
    "not found on the hub, or private/gated and no token with access (check the id; set "
    "HF_TOKEN)"
)
CAUSE_OFFLINE = (
    "not cached and offline/no network: download it once with network access (or set HF_HOME "
    "to a cache that has it), or map the kind to a local directory"
)
CAUSE_MISSING_DIR = "local directory does not exist"
CAUSE_OOM = "out of memory on the device: set FLUXHOST_CPU_OFFLOAD or load fewer kinds"

# Which file makes a directory loadable: a diffusers pipeline has model_index.json, a
# transformers model (the depth estimator) config.json.
PIPELINE_INDEX = "model_index.json"
MODEL_CONFIG = "config.json"
_MARKER_MEANS = {PIPELINE_INDEX: "not a diffusers pipeline directory",
                 MODEL_CONFIG: "not a transformers model directory"}

# Transport errors by class name: huggingface_hub 1.x raises httpx's, 2.x its vendored httpx2's,
# older stacks requests'/urllib3's; matching the names covers them all without importing each.
_NETWORK_ERROR_NAMES = frozenset({
    "OfflineModeIsEnabled", "LocalEntryNotFoundError", "ConnectError", "ConnectTimeout",
    "NetworkError", "TimeoutException", "ReadTimeout", "ProxyError", "NewConnectionError",
    "MaxRetryError", "gaierror",
})
_MAX_CHAIN = 16


class ModelLoadError(EngineError):
    """A configured model could not be loaded; the message names kind, source and cause."""

    def __init__(self, kind: str, source: str, cause: str) -> None:
        self.kind = kind
        self.source = source
        self.cause = cause
        super().__init__(f"cannot load the {kind} model from {source!r}: {cause}")


def load_error(kind: str, source: str, exc: BaseException) -> ModelLoadError:
    """`exc` (raised while loading `kind` from `source`) as a ModelLoadError with its cause."""
    if isinstance(exc, ModelLoadError):
        return exc
    return ModelLoadError(kind, source, classify(exc))


def check_local_layout(kind: str, source: str, path: Path, marker: str) -> None:
    """Refuse a directory without `marker` before the loader does so in its own words."""
    if not (path / marker).is_file():
        meaning = _MARKER_MEANS.get(marker, "not a model directory")
        raise ModelLoadError(kind, source, wrong_layout(f"no {marker} in it ({meaning})"))


def missing_directory(kind: str, source: str) -> ModelLoadError:
    return ModelLoadError(kind, source, CAUSE_MISSING_DIR)


def wrong_layout(detail: str) -> str:
    return f"wrong layout: {detail}"


def classify(exc: BaseException) -> str:
    """The likely cause of a failed load, checked most specific first: an auth problem hidden
    behind a "not cached" error is the one to fix."""
    chain = list(_chain(exc))
    for err in chain:
        if _is_hub(err, "GatedRepoError"):
            return CAUSE_GATED
    for err in chain:
        # The hub answers 401 for a private repository and for one that does not exist alike.
        if _is_hub(err, "RepositoryNotFoundError"):
            return CAUSE_NOT_ON_HUB
    for err in chain:
        if _http_status(err) in (401, 403):
            return CAUSE_GATED
    for err in chain:
        if _is_network(err):
            return _offline_cause(err)
    for err in chain:
        layout = _layout_detail(err)
        if layout is not None:
            return wrong_layout(layout)
    for err in chain:
        if type(err).__name__ == "OutOfMemoryError" or isinstance(err, MemoryError):
            return CAUSE_OOM
    return f"{type(exc).__name__}: {_first_line(exc)}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every exception it was raised from or while handling, breadth first."""
    queue, seen = [exc], set[int]()
    while queue and len(seen) < _MAX_CHAIN:
        err = queue.pop(0)
        if id(err) in seen:
            continue
        seen.add(id(err))
        yield err
        queue.extend(e for e in (err.__cause__, err.__context__) if e is not None)


def _is_hub(err: BaseException, name: str) -> bool:
    """isinstance against huggingface_hub's error class `name` (False if it is not installed)."""
    try:
        from huggingface_hub import errors
    except ImportError:
        return False
    cls = getattr(errors, name, None)
    return cls is not None and isinstance(err, cls)


def _http_status(err: BaseException) -> int | None:
    if not _is_hub(err, "HfHubHTTPError"):
        return None
    status = getattr(getattr(err, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def _is_network(err: BaseException) -> bool:
    names = {cls.__name__ for cls in type(err).__mro__}
    if names & _NETWORK_ERROR_NAMES:
        return True
    # requests.ConnectionError and the builtin both carry this name; so does OfflineModeIsEnabled.
    return isinstance(err, ConnectionError | TimeoutError) or "ConnectionError" in names


def _offline_cause(err: BaseException) -> str:
    flag = _offline_flag()
    if flag is not None:
        return f"{CAUSE_OFFLINE} ({flag} is set)"
    if type(err).__name__ == "LocalEntryNotFoundError":
        return CAUSE_OFFLINE
    return f"{CAUSE_OFFLINE} ({type(err).__name__}: {_first_line(err)})"


def _offline_flag() -> str | None:
    """The environment variable that keeps the HF libraries offline, if one does."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on"):
            return name
    return None


def _layout_detail(err: BaseException) -> str | None:
    """A message saying a needed file is not there (a directory or repository of the wrong
    layout), or None."""
    if _is_hub(err, "EntryNotFoundError"):  # a remote file missing from the repository
        return _first_line(err)
    message = str(err)
    markers = ("no file named", "does not appear to have a file named", "Unrecognized model in",
               "no such file or directory")
    if isinstance(err, OSError | ValueError) and any(m in message for m in markers):
        return _first_line(err)
    return None


def _first_line(err: BaseException, limit: int = 300) -> str:
    lines = str(err).strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."
