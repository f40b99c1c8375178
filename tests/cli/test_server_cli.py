"""The server side of `fluxhost` as an operator meets it: --version, settings it cannot use,
a port in use, a missing extra, a shutdown that waits for a running task, and the first
requests `serve --dev` prints (as `make serve` runs it)."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import unicodedata
from pathlib import Path

import httpx
import pytest

from fluxhost import __version__
from tests.cli.conftest import assert_one_line_error, clean_env, fluxhost
from tests.e2e.harness import Node, wait_for

pytestmark = pytest.mark.service


def test_version_and_help(tmp_path: Path) -> None:
    out = fluxhost("--version", cwd=tmp_path, env=clean_env())
    assert out.returncode == 0 and out.stdout == f"fluxhost {__version__}\n"
    bare = fluxhost(cwd=tmp_path, env=clean_env())
    assert bare.returncode == 2 and "Usage: fluxhost" in bare.stdout and bare.stderr == ""
    for command in ("serve", "worker", "db", "keys", "usage", "finetunes", "generate",
                    "result"):
        assert command in bare.stdout
    flags = fluxhost("generate", "flux-pro-1.0-fill", "--help", cwd=tmp_path, env=clean_env())
    assert flags.returncode == 0
    for flag in ("--image", "--mask", "--steps", "--guidance", "--out", "--json", "--key"):
        assert flag in flags.stdout


@pytest.mark.parametrize(("value", "needles"), [
    ("{bad", ("FLUXHOST_MODELS: not valid JSON",)),
    ("[1]", ("FLUXHOST_MODELS", "valid dictionary")),
])
@pytest.mark.parametrize("command", [("serve",), ("keys", "list")])
def test_malformed_models_setting_is_one_line(tmp_path: Path, value: str,
                                              needles: tuple[str, ...],
                                              command: tuple[str, ...]) -> None:
    env = clean_env(FLUXHOST_DATA_DIR=str(tmp_path / "data"), FLUXHOST_MODELS=value)
    out = fluxhost(*command, cwd=tmp_path, env=env)
    assert_one_line_error(out, 2, "invalid configuration: ", *needles)
    assert out.stdout == "" and not (tmp_path / "data").exists()


def test_port_in_use_is_one_line_before_anything_is_built(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = clean_env(FLUXHOST_DATA_DIR=str(tmp_path / "data"))
        out = fluxhost("serve", "--port", str(port), cwd=tmp_path, env=env)
    assert_one_line_error(out, 1, f"port {port} on 127.0.0.1 is in use")
    assert out.stdout == ""
    # Refused before the database was migrated or the dev model set built.
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(("argv", "blocked", "extra"), [
    (["serve"], "fastapi", "server"),
    (["serve", "--workers", "1"], "torch", "engine"),
    (["serve", "--workers", "0"], "uvicorn", "server"),
    (["worker"], "torch", "engine"),
    (["keys", "list"], "sqlalchemy", "server"),
    (["db", "upgrade"], "alembic", "server"),
])
def test_a_missing_extra_is_one_line(tmp_path: Path, argv: list[str], blocked: str,
                                     extra: str) -> None:
    # `sys.modules[name] = None` is what an uninstalled package looks like to an import.
    code = textwrap.dedent(f"""
        import sys
        sys.modules[{blocked!r}] = None
        from fluxhost.cli import main
        sys.exit(main({argv!r}))
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                         env=clean_env(FLUXHOST_DATA_DIR=str(tmp_path / "data")),
                         capture_output=True, text=True, timeout=120, check=False)
    command = " ".join(a for a in argv if not a.startswith("-") and not a.isdigit())
    line = assert_one_line_error(out, 1)
    assert line == (f"error: fluxhost {command} needs the {extra} extra: "
                    f"pip install 'fluxhost[{extra}]'")


@pytest.mark.slow
def test_shutdown_says_it_waits_for_the_running_task(tmp_path: Path, dev_model_dir: Path
                                                     ) -> None:
    node = Node(data_dir=tmp_path / "node", dev_model_dir=dev_model_dir,
                extra_env={"FLUXHOST_SHUTDOWN_GRACE_SECONDS": "1"})
    try:
        key = node.cli("keys", "create", "grace")
        proc = node.serve(workers=1)
        with httpx.Client(base_url=node.url, timeout=30) as http:
            # Big enough on the dev model to be mid-way when the signal comes.
            r = http.post("/v1/flux-dev", headers={"x-key": key},
                          json={"prompt": "p", "width": 1024, "height": 1024, "steps": 50})
            assert r.status_code == 200, r.text
            task_id = r.json()["id"]
            deadline = time.monotonic() + 120
            while http.get("/v1/get_result", params={"id": task_id}).json()["progress"] is None:
                assert time.monotonic() < deadline, node.logs()
                time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        messages = [json.loads(line).get("msg", "") for line in node.logs().splitlines()
                    if line.startswith("{")]
        assert "shutdown: waiting up to 1s for 1 running task(s) " \
               "(FLUXHOST_SHUTDOWN_GRACE_SECONDS)" in messages, node.logs()
        assert "shutdown: grace period of 1s over; stopping the running task(s), which go " \
               "back to the queue" in messages, node.logs()
    finally:
        node.stop_all()



# The console script `make serve` runs (.venv/bin/fluxhost serve --dev): the printed CLI line
# names it, so a test can paste that line into a shell as a user would.
FLUXHOST_SCRIPT = Path(sys.executable).with_name("fluxhost")
FIRST_CURL = re.compile(r"curl -s -X POST (?P<url>\S+) \\\n\s+-H 'x-key: (?P<key>[^']+)' "
                        r"-H 'Content-Type: application/json' \\\n\s+-d '(?P<body>[^']*)'")
CLI_LINES = re.compile(r"^  (FLUXHOST_API_KEY=.*\\\n.*)$", re.MULTILINE)


def serve_dev(node: Node) -> str:
    """`fluxhost serve --dev` started as `make serve` starts it; its stdout once it is ready."""
    node.data_dir.mkdir(parents=True, exist_ok=True)
    stdout = node.data_dir / "serve-dev.out"
    with stdout.open("wb") as out, (node.data_dir / "serve-dev.log").open("wb") as err:
        proc = subprocess.Popen([str(FLUXHOST_SCRIPT), "serve", "--dev"], env=node.env(),
                                stdout=out, stderr=err)
    node.procs.append(proc)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, node.logs()
        try:
            if httpx.get(f"{node.url}/ready", timeout=1).status_code == 200:
                return stdout.read_text()
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"serve --dev did not get ready: {node.logs()}")


@pytest.mark.slow
def test_serve_dev_first_request_shows_the_emoji_demo(tmp_path: Path, dev_model_dir: Path
                                                      ) -> None:
    from PIL import Image

    node = Node(data_dir=tmp_path / "node", dev_model_dir=dev_model_dir,
                extra_env={"FLUXHOST_MODEL_SET": "emoji"})
    try:
        printed = serve_dev(node)
        curl = FIRST_CURL.search(printed)
        assert curl, printed
        body = json.loads(curl["body"])
        # A served text-to-image endpoint, an emoji's own name, and no random LoRA anywhere.
        served = httpx.get(f"{node.url}/ready").json()["endpoints"]
        path = curl["url"].removeprefix(node.url)
        assert path == "/v1/flux-dev" and path in served
        assert unicodedata.lookup(body["prompt"])
        assert "finetune" not in printed and "noise" not in printed
        assert "emoji64" in printed
        with httpx.Client(base_url=node.url, timeout=30) as http:
            r = http.post(path, headers={"x-key": curl["key"]}, json=body)
            assert r.status_code == 200, r.text
            assert wait_for(http, r.json()["id"], timeout=120)["status"] == "Ready"

        cli = CLI_LINES.findall(printed)
        assert len(cli) == 1, printed
        assert f"{FLUXHOST_SCRIPT} generate flux-dev" in cli[0]
        assert f"--prompt '{body['prompt']}'" in cli[0]
        out = subprocess.run(["bash", "-c", cli[0]], cwd=tmp_path, env=clean_env(),
                             capture_output=True, text=True, timeout=180, check=False)
        assert out.returncode == 0, out.stderr
        written = Path(tmp_path, out.stdout.strip().splitlines()[-1])
        assert Image.open(written).size == (body["width"], body["height"])
    finally:
        node.stop_all()


@pytest.mark.slow
def test_serve_dev_on_the_dev_set_says_noise(tmp_path: Path, dev_model_dir: Path) -> None:
    node = Node(data_dir=tmp_path / "node", dev_model_dir=dev_model_dir)
    try:
        printed = serve_dev(node)
        models = next(line for line in printed.splitlines() if line.startswith("models:"))
        assert "noise" in models
        curl = FIRST_CURL.search(printed)
        assert curl and "finetune_id" not in json.loads(curl["body"]), printed
        # The dev finetune only comes second, labelled as the random LoRA it is.
        first, finetuned = CLI_LINES.findall(printed)
        assert "--finetune-id" not in first
        assert "generate flux-pro-finetuned" in finetuned
        assert "random LoRA" in printed[printed.index(first):printed.index(finetuned)]
        finetune_id = re.search(r"--finetune-id (\S+)", finetuned)
        assert finetune_id
        details = httpx.get(f"{node.url}/v1/finetune_details",
                            params={"finetune_id": finetune_id[1]},
                            headers={"x-key": curl["key"]})
        assert details.status_code == 200, details.text
    finally:
        node.stop_all()
