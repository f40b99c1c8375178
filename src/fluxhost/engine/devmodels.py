"""The dev model set: tiny pipelines with random weights, built on disk.

fluxhost must start, serve, and pass its tests on a machine with no GPU, no internet, and no
multi-gigabyte FLUX checkpoint. When no models are configured (`FLUXHOST_MODELS` empty) the engine
builds this set instead: real diffusers pipeline classes (FluxPipeline, ...) whose components are
shrunk to hidden size 32 and initialised with fixed seeds. Everything downstream of the engine --
scheduling, LoRA loading, progress, cancellation, encoding -- then runs the same code paths it
would run with FLUX.1-dev; only the pictures are meaningless.

Properties:
- Random weights: outputs are structured noise (fluxhost.engine.modelset.DEV_MODEL_WARNING).
- Deterministic: the same code builds bit-identical weights (fixed torch seeds, a private RNG
  state), so the same request with the same seed gives the same pixels on every machine running
  the same torch build.
- Fast: building and saving takes well under a second; nothing is downloaded.
- Crash-safe: the set is built in a temporary sibling directory and renamed into place together
  with a marker file, so a crash never leaves a half-written set behind, and concurrent builders
  (API process and worker process starting together) settle on one winner.

Layout: `root/<kind>/` is a `save_pretrained` directory per pipeline kind (base, fill, canny,
depth, kontext, redux: fluxhost.engine.families.flux1.dev; flux2-dev, klein-4b, klein-9b,
klein-9b-kv: fluxhost.engine.families.flux2.dev),
`root/depth_estimator/` a transformers depth model (fluxhost.engine.devdepth) that turns control
images into depth maps for the depth pipeline, and `root/COMPLETE` the marker.

torch, diffusers and transformers are imported inside functions so that importing this module
(e.g. for `DEV_KINDS`) stays cheap.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from fluxhost.engine.devdepth import build_depth_estimator
from fluxhost.engine.devparts import DevBuilder, DevParts
from fluxhost.engine.families.flux1.dev import DEV_BUILDERS as FLUX1_BUILDERS
from fluxhost.engine.families.flux2.dev import DEV_BUILDERS as FLUX2_BUILDERS
from fluxhost.engine.hf import set_offline_env
from fluxhost.kinds import DEPTH_ESTIMATOR_KEY

# Bump when a builder changes what it writes, so existing sets on disk are rebuilt.
DEV_SET_VERSION = 4
MARKER_NAME = "COMPLETE"

# Pipeline kind -> builder writing a save_pretrained directory.
_BUILDERS: dict[str, DevBuilder] = {**FLUX1_BUILDERS, **FLUX2_BUILDERS}
# Entries of the set that are not pipelines.
_AUX_BUILDERS: dict[str, DevBuilder] = {DEPTH_ESTIMATOR_KEY: build_depth_estimator}
DEV_KINDS: frozenset[str] = frozenset(_BUILDERS)

# Builders seed torch's global RNG, which threads share: one in-process build at a time keeps the
# weights deterministic. Separate processes have their own RNG and race through the rename.
_BUILD_LOCK = threading.Lock()


def _entries() -> dict[str, DevBuilder]:
    return {**_BUILDERS, **_AUX_BUILDERS}


def _marker_payload() -> dict[str, Any]:
    return {"version": DEV_SET_VERSION, "kinds": sorted(_entries())}


def is_complete(root: Path) -> bool:
    try:
        return json.loads((root / MARKER_NAME).read_text()) == _marker_payload()
    except (OSError, ValueError):
        return False


def _paths(root: Path) -> dict[str, Path]:
    return {kind: root / kind for kind in sorted(_entries())}


def ensure_dev_model_set(root: Path) -> dict[str, Path]:
    """Build the dev model set under `root` unless a complete one is there; return entry -> dir
    for every pipeline kind in DEV_KINDS plus the depth estimator.

    Safe against crashes and concurrent callers: each builder writes a private temporary sibling
    of `root` and renames it into place; a loser of the race discards its copy.
    """
    set_offline_env()
    root = Path(root)
    if is_complete(root):
        return _paths(root)
    with _BUILD_LOCK:
        if not is_complete(root):
            _build(root)
    return _paths(root)


# A build takes well under a second; a temporary directory this old was left by a killed builder.
_ABANDONED_AFTER_S = 600.0


def _build(root: Path) -> None:
    root.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(root)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.building-", dir=root.parent))
    try:
        parts = DevParts()
        for kind, build in _entries().items():
            build(tmp / kind, parts)
        (tmp / MARKER_NAME).write_text(json.dumps(_marker_payload()))
        _install(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not is_complete(root):
        raise RuntimeError(f"dev model set at {root} is incomplete after building it")


def _remove_abandoned(root: Path) -> None:
    now = time.time()
    for pattern in (f".{root.name}.building-*", f".{root.name}.stale-*"):
        for path in root.parent.glob(pattern):
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > _ABANDONED_AFTER_S:
                    shutil.rmtree(path, ignore_errors=True)


def _install(tmp: Path, root: Path) -> None:
    """Move a finished build to `root`, replacing a stale or partial set but never a good one."""
    if root.exists():
        if is_complete(root):
            return  # another builder won the race
        stale = root.with_name(f".{root.name}.stale-{uuid.uuid4().hex}")
        # FileNotFoundError: a concurrent builder moved it already.
        with contextlib.suppress(FileNotFoundError):
            root.rename(stale)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        tmp.rename(root)
    except OSError:
        # Lost a race to another builder between the check and the rename.
        if not is_complete(root):
            raise
