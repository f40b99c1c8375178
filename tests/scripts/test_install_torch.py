"""scripts/install-torch.sh picks the torch build from the machine. The venv's python and
nvidia-smi are stand-ins here (recording what pip was asked for): the decision is the unit."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install-torch.sh"
LINUX_X86 = platform.system() == "Linux" and platform.machine() == "x86_64"


def _run(tmp_path: Path, *, gpu: bool, torch_installed: bool = False, index_up: bool = True,
         **env: str) -> tuple[int, list[str], str]:
    """Exit code, the pip commands run, and what the script said on stdout."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "pip.log"
    python = bindir / "python"
    # `pip show torch` fails unless torch is "installed"; `-c` is the CPU index probe; every
    # other pip call is recorded.
    python.write_text(
        "#!/bin/sh\n"
        f'if [ "$3" = show ]; then exit {0 if torch_installed else 1}; fi\n'
        f'if [ "$1" = -c ]; then exit {0 if index_up else 1}; fi\n'
        f'echo "$@" >> {log}\n'
    )
    python.chmod(0o755)
    if gpu:
        smi = bindir / "nvidia-smi"
        smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-0)'\n")
        smi.chmod(0o755)
    proc_dir = tmp_path / "no-nvidia-proc"
    proc_dir.mkdir()
    full_env = {"PATH": f"{bindir}:/usr/bin:/bin", "NVIDIA_PROC_DIR": str(proc_dir), **env}
    done = subprocess.run(["bash", str(SCRIPT), str(python)], env=full_env,
                          capture_output=True, text=True, timeout=30, check=False)
    calls = log.read_text().splitlines() if log.exists() else []
    return done.returncode, calls, done.stdout


@pytest.mark.skipif(not LINUX_X86, reason="the +cpu choice is made on Linux x86_64")
def test_no_gpu_takes_the_cpu_build_never_the_cuda_one(tmp_path: Path) -> None:
    rc, calls, said = _run(tmp_path, gpu=False)
    assert rc == 0
    assert "CPU build (a 0.2 GB download, 0.75 GB installed" in said
    assert len(calls) == 1
    assert "torch==2.13.0+cpu" in calls[0].split()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in calls[0]


@pytest.mark.skipif(not LINUX_X86, reason="the +cpu choice is made on Linux x86_64")
def test_an_unreachable_cpu_index_is_left_to_pip_configuration(tmp_path: Path) -> None:
    rc, calls, _ = _run(tmp_path, gpu=False, index_up=False)
    assert rc == 0
    assert calls == ["-m pip install torch==2.13.0+cpu"]


def test_a_visible_nvidia_gpu_takes_the_cuda_build(tmp_path: Path) -> None:
    rc, calls, said = _run(tmp_path, gpu=True)
    assert rc == 0
    # Not -q: pip's progress is what a person sees of the set-up's one large download.
    assert calls == ["-m pip install torch==2.13.0"]
    assert "the CUDA build (~5.5 GB" in said


def test_torch_spec_is_used_as_given(tmp_path: Path) -> None:
    rc, calls, _ = _run(tmp_path, gpu=False, TORCH_SPEC="torch==2.12.1")
    assert rc == 0
    assert calls == ["-m pip install torch==2.12.1"]


def test_an_installed_torch_is_never_replaced(tmp_path: Path) -> None:
    rc, calls, _ = _run(tmp_path, gpu=True, torch_installed=True)
    assert rc == 0
    assert calls == []


def test_the_makefile_installs_torch_through_the_script() -> None:
    makefile = (SCRIPT.parents[1] / "Makefile").read_text()
    assert "scripts/install-torch.sh" in makefile
    assert os.access(SCRIPT, os.X_OK)


def test_the_makefile_names_each_install_stage() -> None:
    # `make serve` on a fresh machine was minutes of silence: every pip step was -q.
    dry = subprocess.run(["make", "-n", "-B", "install", "PYTHON=python3", "VENV=/nonexistent"],
                         cwd=SCRIPT.parents[1], capture_output=True, text=True, timeout=30,
                         check=False)
    assert dry.returncode == 0, dry.stderr
    stages = [line for line in dry.stdout.splitlines() if line.startswith("echo \"==> [")]
    assert [s.split("]")[0] for s in stages] == ['echo "==> [1/3', 'echo "==> [2/3',
                                                  'echo "==> [3/3']
    assert "PyTorch 2.13.0" in stages[1] and "diffusers" in stages[2]
