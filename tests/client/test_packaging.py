"""The SDK stands alone: importing and using it loads no server dependency, and the package
installed without extras (`pip install fluxhost`) is enough for it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import fluxhost.client

ROOT = Path(__file__).resolve().parents[2]
SERVER_ONLY = ("fastapi", "sqlalchemy", "alembic", "torch", "pydantic_settings", "PIL", "numpy",
               "uvicorn", "diffusers", "transformers", "prometheus_client", "starlette")
# Uses both clients against a scripted transport, so lazy imports would show too.
USE_THE_SDK = textwrap.dedent("""
    import asyncio, sys
    import httpx
    from fluxhost.client import AsyncClient, Client, TaskNotFound

    def handler(request):
        if request.method == "POST":
            return httpx.Response(200, json={"id": "t", "polling_url": "http://h/p?id=t"})
        return httpx.Response(404, json={"id": "t", "status": "Task not found"})

    with Client("http://h", "k", transport=httpx.MockTransport(handler)) as client:
        try:
            client.wait(client.flux_dev(prompt="p", width=512))
        except TaskNotFound:
            pass

    async def main():
        async with AsyncClient("http://h", "k", transport=httpx.MockTransport(handler)) as c:
            try:
                await c.wait(await c.flux_pro_1_1(prompt="p"))
            except TaskNotFound:
                pass

    asyncio.run(main())
    loaded = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1].split(",")))
    print(",".join(loaded))
""")


def test_using_the_sdk_imports_no_server_dependency() -> None:
    out = subprocess.run([sys.executable, "-c", USE_THE_SDK, ",".join(SERVER_ONLY)],
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "", f"loaded: {out.stdout}"


def test_public_surface() -> None:
    exported = set(fluxhost.client.__all__)
    assert all(hasattr(fluxhost.client, name) for name in exported)
    promised = {"Client", "AsyncClient", "Submission", "Result", "FluxhostError", "APIError",
                "TaskFailed", "TaskModerated", "TaskError", "TaskNotFound", "WaitTimeout",
                "verify_webhook", "sign_webhook"}
    assert promised <= exported
    public = {n for n in vars(fluxhost.client) if not n.startswith("_")}
    # Submodules are importable but not the surface.
    modules = {"aio", "client", "errors", "models"}
    assert public - modules == exported


@pytest.mark.slow
def test_installs_and_runs_without_extras(tmp_path: Path) -> None:
    """`pip install <repo>` into a fresh venv from the package index, no extras: the SDK works
    and no server dependency was installed."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "src", src / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    install = subprocess.run([python, "-m", "pip", "install", "-q", str(src)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    absent = list(SERVER_ONLY)
    check = ("import importlib.util, sys; "
             "print(','.join(m for m in sys.argv[1].split(',') if importlib.util.find_spec(m)))")
    found = subprocess.run([python, "-c", check, ",".join(absent)], capture_output=True,
                           text=True, timeout=60, check=True)
    assert found.stdout.strip() == "", f"installed without extras: {found.stdout}"
    used = subprocess.run([python, "-c", USE_THE_SDK, ",".join(SERVER_ONLY)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert used.returncode == 0, used.stderr
    assert used.stdout.strip() == ""

