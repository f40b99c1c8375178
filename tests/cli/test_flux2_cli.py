"""`fluxhost generate` on the FLUX.2 endpoints (issue 18), against a real server on loopback
(tests/cli/conftest.py: dev model set, klein-4b served, so the images are noise): `-i`, repeated,
fills input_image, input_image_2, ... in order; more than the endpoint's maximum, or an image
given twice, is refused before anything is read or submitted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import text

from fluxhost import catalog
from fluxhost.cli.generate import endpoint_command
from fluxhost.store.db import make_engine
from fluxhost.store.tasks import INPUTS_PARAM
from tests.cli.conftest import Live, assert_one_line_error, clean_env, decode, fluxhost, png_file
from tests.cli.test_client_cli import noise, task_count

pytestmark = pytest.mark.service


def stored_params(live: Live, task_id: str) -> dict[str, Any]:
    engine = make_engine(f"sqlite:///{live.node.data_dir / 'fluxhost.db'}")
    try:
        with engine.connect() as conn:
            raw = conn.execute(text("SELECT params FROM tasks WHERE id = :id"),
                               {"id": task_id}).scalar_one()
    finally:
        engine.dispose()
    params: dict[str, Any] = json.loads(raw) if isinstance(raw, str) else raw
    return params


@pytest.fixture
def refs(tmp_path: Path) -> tuple[Path, Path]:
    """Two references of different sizes: the output, left to the model, takes the first's."""
    return (png_file(tmp_path / "wide.png", noise((192, 128), seed=3)),
            png_file(tmp_path / "square.png", noise((64, 64), seed=4)))


@pytest.mark.parametrize("order", ["wide-first", "square-first"])
def test_repeated_i_fills_the_references_in_order(live: Live, tmp_path: Path,
                                                  refs: tuple[Path, Path], order: str) -> None:
    first, second = refs if order == "wide-first" else refs[::-1]
    out = live.run("generate", "flux-2-klein-4b", "--prompt", "a cat on a sofa",
                   "-i", str(first), "--image", str(second), "--seed", "7", "--json",
                   cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["status"] == "Ready" and body["result"]["seed"] == 7
    # No width/height: the model picks the first reference's size.
    image = decode((tmp_path / body["output_file"]).read_bytes())
    assert image.size == Image.open(first).size
    assert list(stored_params(live, body["id"])[INPUTS_PARAM]) == ["input_image",
                                                                   "input_image_2"]


def test_i_with_a_size_and_the_other_fields(live: Live, tmp_path: Path,
                                            refs: tuple[Path, Path]) -> None:
    out = live.run("generate", "flux-2-klein-4b", "--prompt", "p", "-i", str(refs[0]),
                   "--width", "128", "--height", "96", "-o", "out.png", "-q", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    image = decode((tmp_path / "out.png").read_bytes())
    assert (image.format, image.size) == ("PNG", (128, 96))


@pytest.mark.parametrize(("endpoint", "most"), [("flux-2-klein-4b", 4), ("flux-2-pro", 8),
                                                ("flux-2-klein-9b-preview", 4)])
def test_more_references_than_the_endpoint_takes_are_refused(live: Live, tmp_path: Path,
                                                             endpoint: str, most: int) -> None:
    before = task_count(live)
    args = [arg for _ in range(most + 1) for arg in ("-i", "not-read.png")]
    out = live.run("generate", endpoint, "--prompt", "p", *args, cwd=tmp_path)
    said = assert_one_line_error(
        out, 2, f"-i/--image: {endpoint} takes at most {most} reference images (input_image "
        f"... input_image_{most}), got {most + 1}", "nothing was submitted")
    assert "cannot read" not in said  # counted before any file is read
    assert task_count(live) == before and list(tmp_path.iterdir()) == []


def test_an_image_given_twice_is_refused(live: Live, tmp_path: Path,
                                         refs: tuple[Path, Path]) -> None:
    before = task_count(live)
    out = live.run("generate", "flux-2-klein-4b", "--prompt", "p", "-i", str(refs[0]),
                   "-i", str(refs[1]), "--input-image-2", str(refs[1]), cwd=tmp_path)
    assert_one_line_error(out, 2, "input_image_2 given twice: by -i/--image")
    out = live.run("generate", "flux-2-klein-4b", "--prompt", "p", "-i", str(refs[0]),
                   "--set", "input_image=abc", cwd=tmp_path)
    assert_one_line_error(out, 2, "input_image given twice")
    assert task_count(live) == before


def test_a_url_reference_goes_as_it_is_for_the_server_to_fetch(live: Live, tmp_path: Path,
                                                               refs: tuple[Path, Path]) -> None:
    """-i takes an http(s) URL as the field takes it: sent as it is, and this server fetches
    it; a loopback address is what its SSRF guard refuses (a 422 naming the field)."""
    out = live.run("generate", "flux-2-klein-4b", "--prompt", "p", "-i", str(refs[0]),
                   "-i", "http://127.0.0.1:9/ref.png", cwd=tmp_path)
    assert_one_line_error(out, 1, "HTTP 422: input_image_2: ", "could not fetch input_image_2",
                          "loopback")


def test_a_missing_reference_file_is_one_line(live: Live, tmp_path: Path,
                                              refs: tuple[Path, Path]) -> None:
    out = live.run("generate", "flux-2-klein-4b", "--prompt", "p", "-i", str(refs[0]),
                   "-i", "missing.png", cwd=tmp_path)
    assert_one_line_error(out, 2, "-i/--image: cannot read missing.png: No such file")


def test_help_lists_every_endpoint_and_the_reference_flag(tmp_path: Path) -> None:
    listing = fluxhost("generate", "--help", cwd=tmp_path, env=clean_env())
    assert listing.returncode == 0
    for record in catalog.ENDPOINTS:
        assert record.name in listing.stdout, record.name
    page = fluxhost("generate", "flux-2-klein-4b", "--help", cwd=tmp_path, env=clean_env())
    assert page.returncode == 0 and "--image" in page.stdout and "-i" in page.stdout
    for endpoint, most in (("flux-2-klein-4b", 4), ("flux-2-flex", 8),
                           ("flux-kontext-pro", 4)):
        command = endpoint_command(endpoint)
        helps = {opt: str(p.help) for p in command.params for opt in p.opts}
        assert f"at most {most} (input_image_{most})" in helps["-i"], endpoint
        assert helps["-i"] == helps["--image"]
        assert f"at most {most})" in str(command.help)
        # The server fetches image URLs (api/imagefetch.py): every reference flag says so.
        for flag in ("-i", "--input-image", f"--input-image-{most}"):
            assert "file path" in helps[flag].lower(), flag
            assert "http(s) URL the server fetches" in helps[flag], flag
    fill = {opt: str(p.help) for p in endpoint_command("flux-pro-1.0-fill").params
            for opt in p.opts}
    assert "-i" not in fill and "reference" not in fill["--image"]  # the image to fill
    worker = fluxhost("worker", "--help", cwd=tmp_path, env={**clean_env(), "COLUMNS": "200"})
    assert "klein-4b" in worker.stdout and "flux2-dev" in worker.stdout
