from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def engine(dev_model_dir: Path) -> Any:
    from fluxhost.engine import Engine
    from fluxhost.settings import Settings

    return Engine(Settings(_env_file=None, dev_model_dir=dev_model_dir))  # type: ignore[call-arg]


