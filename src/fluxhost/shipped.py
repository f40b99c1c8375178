"""Where the model set shipped in a source checkout lives (models/emoji64), known without
importing the engine: settings resolve FLUXHOST_MODEL_SET=emoji to it."""

from __future__ import annotations

from pathlib import Path

# src/fluxhost/shipped.py -> <repo>/models/emoji64.
DEMO_ROOT = Path(__file__).resolve().parents[2] / "models" / "emoji64"
