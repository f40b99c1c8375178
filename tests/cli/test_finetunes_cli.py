"""`fluxhost finetunes create/list/show/delete` against a real server (dev model set: a
training of 100 iterations at 64x64 takes seconds; the finetune it makes draws noise)."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from tests.cli.conftest import Live, assert_one_line_error, lines, on_terminal

pytestmark = [pytest.mark.service, pytest.mark.slow]

FAST = ("--iterations", "100", "--finetune-type", "lora", "--lora-rank", "16", "--priority",
        "speed", "--learning-rate", "0.005")
UUID = re.compile(r"^[0-9a-f-]{36}$")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def dataset(folder: Path) -> Path:
    folder.mkdir()
    for i, colour in enumerate([(220, 20, 20), (20, 220, 20), (20, 20, 220)]):
        Image.new("RGB", (96, 96), colour).save(folder / f"img{i}.png")
    (folder / "img0.txt").write_text("a red square")
    (folder / "README.md").write_text("not an image: left out of the zip")
    return folder


def test_create_from_a_folder_with_a_bar_then_list_show_delete(live: Live,
                                                                tmp_path: Path) -> None:
    source = dataset(tmp_path / "squares")
    code, screen = on_terminal("finetunes", "create", str(source), "--mode", "style", *FAST,
                               cwd=tmp_path, env=live.env(), timeout=300)
    assert code == 0, screen[-2000:]
    printed = lines(ANSI.sub("", screen))[-1]  # stdout's line, after the bar's last frame
    assert UUID.match(printed), screen[-2000:]
    finetune_id = printed
    assert f"training {finetune_id} Ready" in screen and "100%" in screen and "━" in screen

    listed = live.run("finetunes", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    header, *rows = lines(listed.stdout)
    assert header.split()[:3] == ["ID", "STATUS", "TRIGGER"]
    (row,) = [r for r in rows if r.startswith(finetune_id)]
    assert row.split()[1:4] == ["Ready", "TOK", "style"] and row.endswith("squares")
    as_json = json.loads(live.run("finetunes", "list", "--json", cwd=tmp_path).stdout)
    assert {r["finetune_id"] for r in as_json} >= {finetune_id, live.finetune_id}

    shown = live.run("finetunes", "show", finetune_id, cwd=tmp_path)
    details = json.loads(shown.stdout)
    assert details["status"] == "Ready" and details["finetune_comment"] == "squares"
    assert details["iterations"] == 100 and details["images"] == 3

    deleted = live.run("finetunes", "delete", finetune_id, cwd=tmp_path)
    assert deleted.returncode == 0 and deleted.stdout.strip() == f"deleted finetune {finetune_id}"
    gone = live.run("finetunes", "show", finetune_id, cwd=tmp_path)
    assert_one_line_error(gone, 1, "HTTP 404: ")


def test_create_from_a_zip_without_waiting(live: Live, tmp_path: Path) -> None:
    archive = tmp_path / "set.zip"
    folder = dataset(tmp_path / "set")
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("img0.png", "img1.png", "img0.txt"):
            zf.write(folder / name, name)
    out = live.run("finetunes", "create", str(archive), "--comment", "zipped", *FAST,
                   "--no-wait", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    finetune_id = json.loads(out.stdout)["finetune_id"]
    details = json.loads(live.run("finetunes", "show", finetune_id, cwd=tmp_path).stdout)
    assert details["finetune_comment"] == "zipped" and details["images"] == 2
    # Deleting a finetune in training cancels the training.
    assert live.run("finetunes", "delete", finetune_id, cwd=tmp_path).returncode == 0


def test_create_refusals_are_one_line(live: Live, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("captions without images")
    assert_one_line_error(live.run("finetunes", "create", str(empty), cwd=tmp_path), 2,
                          "has no images")
    assert_one_line_error(live.run("finetunes", "create", "nowhere", cwd=tmp_path), 2,
                          "no such file or folder: nowhere")
    source = dataset(tmp_path / "ok")
    assert_one_line_error(live.run("finetunes", "create", str(source), "--iterations", "5",
                                   cwd=tmp_path), 2, "iterations")
    assert_one_line_error(live.run("finetunes", "create", str(source), "--mode", "sketch",
                                   cwd=tmp_path), 2, "'--mode'", "sketch")
    assert_one_line_error(live.run("finetunes", "delete", "no-such-finetune", cwd=tmp_path),
                          1, "HTTP 404: ")


def test_create_on_a_klein_base(live: Live, tmp_path: Path) -> None:
    """--base klein-4b sends base_model (issue 19): the finetune says its base; an unknown base
    is refused before anything is read or sent."""
    source = dataset(tmp_path / "klein")
    out = live.run("finetunes", "create", str(source), "--base", "klein-4b", *FAST, "--no-wait",
                   cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    finetune_id = json.loads(out.stdout)["finetune_id"]
    details = json.loads(live.run("finetunes", "show", finetune_id, cwd=tmp_path).stdout)
    assert details["base_model"] == "klein-4b" and details["images"] == 3
    assert live.run("finetunes", "delete", finetune_id, cwd=tmp_path).returncode == 0
    assert_one_line_error(live.run("finetunes", "create", str(source), "--base", "klein-2b",
                                   cwd=tmp_path), 2, "klein-2b")
