"""The dev captioner: a tiny random BLIP built offline, loaded and run like a real one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from fluxhost.training.captioner import DEV_WORDS, Captioner, build_dev_captioner


@pytest.fixture(scope="module")
def dev_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_dev_captioner(tmp_path_factory.mktemp("captioner") / "dev")


@pytest.fixture(scope="module")
def captioner(dev_dir: Path) -> Captioner:
    return Captioner.load(dev_dir)


def _image(color: str, size: tuple[int, int] = (48, 40)) -> Image.Image:
    return Image.new("RGB", size, color)


def test_build_writes_model_and_processor_atomically(dev_dir: Path) -> None:
    names = {p.name for p in dev_dir.iterdir()}
    assert {"config.json", "model.safetensors", "processor_config.json"} <= names
    assert not list(dev_dir.parent.glob(".dev.*")), "temporary build dirs left behind"


def test_caption_is_nonempty_words_from_dev_vocab(captioner: Captioner) -> None:
    text = captioner.caption(_image("red"), max_new_tokens=8)
    assert isinstance(text, str)
    assert text and text == text.strip()
    assert set(text.split()) <= {*DEV_WORDS, ",", ".", "-"}


def test_caption_is_deterministic(captioner: Captioner) -> None:
    image = _image("blue")
    assert captioner.caption(image) == captioner.caption(image.copy())


def test_caption_depends_on_image(captioner: Captioner) -> None:
    captions = {captioner.caption(_image(c), max_new_tokens=8) for c in ("red", "blue", "green")}
    assert len(captions) > 1


def test_rebuild_gives_identical_weights(dev_dir: Path, tmp_path: Path) -> None:
    weights = (dev_dir / "model.safetensors").read_bytes()
    other = build_dev_captioner(tmp_path / "again")
    assert (other / "model.safetensors").read_bytes() == weights
    # Building over an existing directory replaces it.
    assert build_dev_captioner(other) == other
    assert (other / "model.safetensors").read_bytes() == weights


def test_rgba_and_odd_sizes(captioner: Captioner) -> None:
    assert captioner.caption(Image.new("RGBA", (13, 97), (10, 200, 30, 128)), max_new_tokens=4)


def test_import_is_cheap() -> None:
    code = (
        "import sys, fluxhost.training.captioner; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
