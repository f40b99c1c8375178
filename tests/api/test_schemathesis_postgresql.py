"""test_schemathesis.py's tests on PostgreSQL: the same server, fuzzing and assertions, with the
queue and every table on a real PostgreSQL. A file of its own so that pytest-xdist (which takes
a file at a time) fuzzes the two engines at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.test_schemathesis import (  # noqa: F401  (collected here too, on this `live`)
    Live,
    fuzzed,
    live_server,
    test_every_operation_was_fuzzed,
    test_fuzzing_reached_past_validation,
    test_malformed_bodies,
    test_no_server_errors,
    test_responses_match_the_served_schema,
)

pytestmark = [pytest.mark.service, pytest.mark.slow]


@pytest.fixture(scope="module")
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         dev_model_dir: Path, dev_lora_file: Path) -> Iterator[Live]:
    yield from live_server("postgresql", request, tmp_path_factory, dev_model_dir,
                           dev_lora_file)
