"""`fluxhost generate` and `fluxhost result` against a real server on loopback (dev model
set: the images are noise, so the tests check formats, sizes and statuses, not content)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import text

from fluxhost.store.db import make_engine
from tests.cli.conftest import (
    Live,
    assert_one_line_error,
    clean_env,
    decode,
    fluxhost,
    lines,
    on_terminal,
    png_file,
)
from tests.e2e.harness import free_port

pytestmark = pytest.mark.service

SMALL = ("--width", "256", "--height", "256", "--steps", "4")


def noise(size: tuple[int, int], seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def written(out: subprocess.CompletedProcess[str], cwd: Path) -> Path:
    """The file whose path the command printed (its only stdout line)."""
    assert out.returncode == 0, out.stderr
    (printed,) = lines(out.stdout)
    return cwd / printed


def test_canny_with_a_control_image_file(live: Live, tmp_path: Path) -> None:
    control = png_file(tmp_path / "edges.png", noise((256, 256)))
    out = live.run("generate", "flux-pro-1.0-canny", "--prompt", "a house",
                   "--control-image", str(control), "--steps", "15", "--output-format", "png",
                   cwd=tmp_path)
    path = written(out, tmp_path)
    assert path.suffix == ".png" and path.parent == tmp_path
    task_id = path.stem
    assert f"task {task_id}: waiting" in out.stderr  # a pipe gets one plain line, no bar
    img = decode(path.read_bytes())
    assert img.format == "PNG" and img.size == (256, 256)


def test_finetuned_fill_with_image_and_mask_files(live: Live, tmp_path: Path) -> None:
    image = png_file(tmp_path / "photo.png", noise((256, 256), seed=1))
    mask = Image.new("L", (256, 256), 0)
    mask.paste(255, (64, 64, 192, 192))  # white: repaint the middle
    mask_path = png_file(tmp_path / "mask.png", mask)
    target = tmp_path / "filled.png"
    out = live.run("generate", "flux-pro-1.0-fill-finetuned", "--finetune-id",
                   live.finetune_id, "--prompt", "a window", "--image", str(image),
                   "--mask", str(mask_path), "--steps", "15", "--output-format", "png",
                   "--out", str(target), cwd=tmp_path)
    assert written(out, tmp_path) == target
    img = decode(target.read_bytes())
    assert img.format == "PNG" and img.size == (256, 256)


def test_image_from_stdin(live: Live, tmp_path: Path) -> None:
    control = png_file(tmp_path / "c.png", noise((256, 256), seed=2))
    out = subprocess.run([sys.executable, "-m", "fluxhost.cli", "generate",
                          "flux-pro-1.0-depth", "--prompt", "p", "--control-image", "-",
                          "--steps", "15", "--quiet"], cwd=tmp_path, env=live.env(),
                         input=control.read_bytes(), capture_output=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stderr == b""  # --quiet: not even the plain line
    assert decode((tmp_path / out.stdout.decode().strip()).read_bytes()).format == "JPEG"


def test_json_is_the_only_stdout_and_result_reads_it_back(live: Live, tmp_path: Path) -> None:
    out = live.run("generate", "flux-dev", "--prompt", "a cat", *SMALL, "--seed", "5",
                   "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["status"] == "Ready" and body["result"]["seed"] == 5
    assert body["result"]["prompt"] == "a cat"
    path = tmp_path / body["output_file"]
    assert path.name == f"{body['id']}.jpg" and decode(path.read_bytes()).size == (256, 256)

    again = live.run("result", body["id"], "--out", "again.jpg", cwd=tmp_path,
                     FLUXHOST_API_KEY=None, BFL_API_KEY=live.key)  # the hosted API's name
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"] == "Ready"
    assert (tmp_path / "again.jpg").read_bytes() == path.read_bytes()


def task_count(live: Live) -> int:
    """Tasks (and trainings) the server has stored: what it was asked to do."""
    engine = make_engine(f"sqlite:///{live.node.data_dir / 'fluxhost.db'}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM tasks")).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.parametrize(("name", "magic"), [("x.png", b"\x89PNG\r\n\x1a\n"),
                                             ("x.webp", b"RIFF"), ("x.JPEG", b"\xff\xd8\xff")])
def test_out_extension_picks_the_output_format(live: Live, tmp_path: Path, name: str,
                                               magic: bytes) -> None:
    # -o x.png wrote the server's default, a JPEG, under the .png name.
    out = live.run("generate", "flux-dev", "--prompt", "p", *SMALL, "-o", name, "-q",
                   cwd=tmp_path)
    assert written(out, tmp_path) == tmp_path / name
    assert (tmp_path / name).read_bytes().startswith(magic)


@pytest.mark.parametrize(("args", "needles"), [
    (("-o", "missing/dir/x.png"), ("--out missing/dir/x.png: folder missing/dir does not "
                                   "exist",)),
    (("-o", "x.gif"), ("--out x.gif: unknown image extension '.gif'", ".png")),
    (("-o", "x.jpg", "--output-format", "png"),
     ("--out x.jpg names jpeg but --output-format is png",)),
    (("-o", "x.png", "--set", "output_format=webp"),
     ("--out x.png names png but --output-format is webp",)),
])
def test_a_bad_out_is_refused_before_anything_is_submitted(live: Live, tmp_path: Path,
                                                           args: tuple[str, ...],
                                                           needles: tuple[str, ...]) -> None:
    before = task_count(live)
    out = live.run("generate", "flux-dev", "--prompt", "p", *SMALL, *args, cwd=tmp_path)
    assert_one_line_error(out, 2, *needles)
    assert task_count(live) == before and list(tmp_path.iterdir()) == []


def test_result_wait_quiet_and_its_out_checks(live: Live, tmp_path: Path) -> None:
    sub = live.run("generate", "flux-dev", "--prompt", "p", *SMALL, "--no-wait", cwd=tmp_path)
    task_id = json.loads(sub.stdout)["id"]
    missing = live.run("result", task_id, "--wait", "-o", "nowhere/out.jpg", cwd=tmp_path)
    assert_one_line_error(missing, 2, "folder nowhere does not exist")
    quiet = live.run("result", task_id, "--wait", "-q", "-o", "out.jpg", cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet  # not even the plain line
    assert json.loads(quiet.stdout)["status"] == "Ready"
    assert decode((tmp_path / "out.jpg").read_bytes()).format == "JPEG"
    # The task ran: its JPEG is refused under a .png name, and the message says what to run.
    wrong = live.run("result", task_id, "--quiet", "-o", "out.png", cwd=tmp_path)
    assert_one_line_error(wrong, 1, f"task {task_id}'s image is JPEG, not PNG as out.png "
                          f"says; write it with: fluxhost result {task_id} -o out.jpg")
    assert not (tmp_path / "out.png").exists()
    into = live.run("result", task_id, "-o", ".", cwd=tmp_path)  # a folder: <id>.<ext> in it
    assert into.returncode == 0, into.stderr
    assert (tmp_path / f"{task_id}.jpg").read_bytes() == (tmp_path / "out.jpg").read_bytes()


def test_no_wait_prints_the_submission(live: Live, tmp_path: Path) -> None:
    out = live.run("generate", "flux-dev", "--prompt", "p", *SMALL, "--no-wait", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["polling_url"] == f"{live.url}/v1/get_result?id={body['id']}"
    assert list(tmp_path.iterdir()) == []


def test_progress_bar_on_a_terminal(live: Live, tmp_path: Path) -> None:
    code, screen = on_terminal("generate", "flux-dev", "--prompt", "p", "--width", "256",
                               "--height", "256", "--steps", "12", cwd=tmp_path,
                               env=live.env())
    assert code == 0, screen[-2000:]
    (image,) = tmp_path.iterdir()
    assert f"task {image.stem}" in screen
    assert "100%" in screen and "━" in screen  # rich's bar, filled at the end
    assert "\x1b[" in screen  # drawn with terminal control sequences
    assert image.name in screen


def _interruptible() -> None:
    """SIGINT delivered and at its default in the child, as from a terminal: a child inherits
    an ignored SIGINT and a blocked signal mask from its parent, and this test's parent is a
    pytest-xdist process that has run other files first (under make test the CLI never saw
    the SIGINT; alone, and in this file, it always did)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_while_waiting(live: Live, tmp_path: Path) -> None:
    # Kontext is not served by this server's worker: the task stays queued.
    proc = subprocess.Popen([sys.executable, "-m", "fluxhost.cli", "generate",
                             "flux-kontext-pro", "--prompt", "p"], cwd=tmp_path,
                            env=live.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_interruptible)
    assert proc.stderr is not None
    first = proc.stderr.readline()  # written just before the wait starts
    assert first.startswith("task ") and first.endswith(": waiting\n"), first
    task_id = first.split()[1].rstrip(":")
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert stdout == ""
    assert lines(stderr) == [f"interrupted; task {task_id} continues on the server: "
                             f"fluxhost result {task_id}"]
    still = live.run("result", task_id, cwd=tmp_path)
    assert still.returncode == 0 and json.loads(still.stdout)["status"] == "Pending"


def test_wait_timeout_exits_4(live: Live, tmp_path: Path) -> None:
    out = live.run("generate", "flux-kontext-max", "--prompt", "p", "--timeout", "1",
                   cwd=tmp_path)
    assert_one_line_error(out, 4, "still 'Pending' after 1s", "continues on the server: "
                          "fluxhost result ")


def test_failed_task_exits_3(live: Live, tmp_path: Path) -> None:
    # Opaque everywhere and no mask: nothing to repaint, the task ends Error.
    opaque = png_file(tmp_path / "opaque.png", Image.new("RGBA", (64, 64), (9, 9, 9, 255)))
    out = live.run("generate", "flux-pro-1.0-fill-finetuned", "--finetune-id",
                   live.finetune_id, "--image", str(opaque), "--steps", "15", cwd=tmp_path)
    assert_one_line_error(out, 3, "ended with status 'Error'", "mask is blank")
    assert out.stdout == "" and not list(tmp_path.glob("*.jpg"))


@pytest.mark.parametrize(("args", "env", "code", "needles"), [
    (("--prompt", "p"), {"FLUXHOST_API_KEY": "fh_wrong"}, 1,
     ("HTTP 403: Not authenticated - Invalid Authentication",)),
    (("--prompt", "p"), {"FLUXHOST_API_KEY": None}, 2, ("no API key: pass --key",)),
    (("--prompt", "p", "--width", "100"), {}, 1, ("HTTP 422: width: ",)),
    (("--prompt", "p", "--width", "abc"), {}, 2, ("'--width'", "valid integer")),
    (("--prompt", "p", "--image-prompt", "missing.png"), {}, 2,
     ("--image-prompt: cannot read missing.png: No such file",)),
    (("--prompt", "p", "--set", "oops"), {}, 2, ("--set expects NAME=VALUE",)),
    (("--prompt", "p"), {"FLUXHOST_BASE_URL": "closed"}, 1,
     ("cannot reach http://127.0.0.1:", "connection refused")),
    (("--prompt", "p"), {"FLUXHOST_BASE_URL": "ftp://x"}, 2, ("--base-url",)),
])
def test_errors_are_one_line(live: Live, tmp_path: Path, args: tuple[str, ...],
                             env: dict[str, str | None], code: int,
                             needles: tuple[str, ...]) -> None:
    if env.get("FLUXHOST_BASE_URL") == "closed":
        env = {"FLUXHOST_BASE_URL": f"http://127.0.0.1:{free_port()}"}
    out = fluxhost("generate", "flux-dev", *args, "--out", "never.jpg", cwd=tmp_path,
                   env=live.env(**env))
    assert_one_line_error(out, code, *needles)
    assert out.stdout == "" and not (tmp_path / "never.jpg").exists()


def test_unknown_finetune_and_endpoint(live: Live, tmp_path: Path) -> None:
    out = live.run("generate", "flux-pro-finetuned", "--finetune-id", "no-such-finetune",
                   "--prompt", "p", cwd=tmp_path)
    assert_one_line_error(out, 1, "HTTP 404: ", "no-such-finetune")
    out = live.run("generate", "flux-nano", "--prompt", "p", cwd=tmp_path)
    assert_one_line_error(out, 2, "unknown endpoint 'flux-nano'", "flux-dev")
    out = live.run("generate", "flux-pro-finetuned", "--prompt", "p", cwd=tmp_path)
    assert_one_line_error(out, 2, "--finetune-id")  # required by the request model
    out = live.run("result", "no-such-task", cwd=tmp_path)
    assert_one_line_error(out, 3, "task no-such-task: Task not found")


def test_the_earlier_command_line_still_works(live: Live, tmp_path: Path) -> None:
    # generate --finetune-id ... --set ... with FLUXHOST_URL/FLUXHOST_KEY, as before typer.
    env = clean_env(FLUXHOST_URL=live.url, FLUXHOST_KEY=live.key)
    out = fluxhost("generate", "--finetune-id", live.finetune_id, "--prompt", "a cat",
                   "--set", "width=256", "--set", "height=256", "--set", "steps=4", "--set",
                   "output_format=png", "--set", "seed=3", "--timeout", "60", cwd=tmp_path,
                   env=env)
    path = written(out, tmp_path)
    assert f"task {path.stem}" in out.stderr and path.suffix == ".png"
    assert decode(path.read_bytes()).size == (256, 256)


def test_client_commands_load_no_server_dependencies(live: Live, tmp_path: Path) -> None:
    # The server's and the engine's packages made unimportable: a client-only install.
    blocked = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "pydantic_settings",
               "torch", "diffusers", "transformers")
    code = textwrap.dedent(f"""
        import sys
        for name in {blocked!r}:
            sys.modules[name] = None
        from fluxhost.cli import main
        rc = main(["generate", "flux-dev", "--prompt", "p", {", ".join(map(repr, SMALL))},
                   "--quiet"])
        rc = rc or main(["finetunes", "list"])
        sys.exit(rc)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=live.env(),
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert live.finetune_id in out.stdout
    assert len(list(tmp_path.glob("*.jpg"))) == 1
