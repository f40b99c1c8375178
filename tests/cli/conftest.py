"""One real server on loopback for the client commands' tests, and `fluxhost` run as a user
runs it: a subprocess in a folder of its own, configured by environment variables."""

from __future__ import annotations

import io
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from tests.e2e.conftest import provision
from tests.e2e.harness import Node, run_fluxhost

# Kontext is left unserved: its tasks stay queued, which is how the tests get a task that is
# still waiting when they press Ctrl-C or run out of --timeout. Of FLUX.2, klein-4b is served
# (flux-2-klein-4b, test_flux2_cli.py).
SERVED_KINDS = "base,fill,canny,depth,klein-4b,training"
CLIENT_ENVS = ("FLUXHOST_", "BFL_")


def clean_env(**env: str | None) -> dict[str, str]:
    """The test process's environment without fluxhost's or the hosted API's variables,
    plus `env` (None: left out)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(CLIENT_ENVS)}
    base.update({k: v for k, v in env.items() if v is not None})
    return base


def fluxhost(*args: str, cwd: Path, env: dict[str, str], timeout: float = 120
             ) -> subprocess.CompletedProcess[str]:
    return run_fluxhost(list(args), cwd=cwd, env=env, timeout=timeout)


@dataclass
class Live:
    """A running `fluxhost serve` (dev model set, one embedded worker), a key and a finetune."""

    node: Node
    key: str
    finetune_id: str

    @property
    def url(self) -> str:
        return self.node.url

    def env(self, **env: str | None) -> dict[str, str]:
        return clean_env(**{"FLUXHOST_BASE_URL": self.url, "FLUXHOST_API_KEY": self.key,
                            **env})

    def run(self, *args: str, cwd: Path, timeout: float = 120, **env: str | None
            ) -> subprocess.CompletedProcess[str]:
        return fluxhost(*args, cwd=cwd, env=self.env(**env), timeout=timeout)


@pytest.fixture(scope="package")
def live(tmp_path_factory: pytest.TempPathFactory, dev_model_dir: Path,
         dev_lora_file: Path) -> Iterator[Live]:
    node = Node(data_dir=tmp_path_factory.mktemp("cli-live"), dev_model_dir=dev_model_dir,
                extra_env={"FLUXHOST_WORKER_KINDS": SERVED_KINDS})
    key, finetune_id = provision(node, dev_lora_file, name="cli")
    node.serve(workers=1)
    yield Live(node, key, finetune_id)
    node.stop_all()


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def png_file(path: Path, img: Image.Image) -> Path:
    img.save(path, "PNG")
    return path


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def assert_one_line_error(out: subprocess.CompletedProcess[str], code: int, *needles: str
                          ) -> str:
    """The command failed with `code` and said why on exactly one line of stderr."""
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    said = [line for line in lines(out.stderr) if not line.endswith(": waiting")]
    assert len(said) == 1 and said[0].startswith("error: "), out.stderr
    for needle in needles:
        assert needle in said[0], said[0]
    return said[0]


def on_terminal(*args: str, cwd: Path, env: dict[str, str], timeout: float = 180
                ) -> tuple[int, str]:
    """Run `fluxhost` with a pseudo-terminal as stdin, stdout and stderr, as in an
    interactive shell; its exit code and everything it drew."""
    main, child = os.openpty()
    env = {**env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    proc = subprocess.Popen([sys.executable, "-m", "fluxhost.cli", *args], cwd=cwd, env=env,
                            stdin=child, stdout=child, stderr=child, close_fds=True)
    os.close(child)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, b"".join(chunks).decode(errors="replace")
            if not select.select([main], [], [], remaining)[0]:
                continue
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the terminal's other side closed (the process ended)
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = proc.wait(max(1.0, deadline - time.monotonic()))
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
    return code, b"".join(chunks).decode("utf-8", errors="replace")
