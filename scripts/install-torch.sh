#!/usr/bin/env bash
# Installs PyTorch into a virtual environment, first and alone, so that no resolver later swaps
# in another build (every other package then finds torch already satisfied).
#
#   scripts/install-torch.sh PYTHON            PYTHON: the venv's interpreter
#
# Which build, unless TORCH_SPEC says otherwise:
#   - a machine with an NVIDIA GPU (nvidia-smi lists one, or the driver shows one in /proc):
#     torch==$TORCH_VERSION from PyPI, which is the CUDA build;
#   - Linux x86_64 without one: torch==$TORCH_VERSION+cpu, the CPU build (a 0.2 GB download,
#     0.75 GB installed, where the CUDA build with its libraries is ~5.5 GB), from PyTorch's
#     CPU index or any wheel pip's own
#     configuration points at (find-links, a mirror). The "+cpu" pin means it can never fall
#     back to the CUDA build: if no CPU wheel is reachable, this fails and says how to proceed;
#   - anything else (macOS, Linux aarch64): torch==$TORCH_VERSION from PyPI, a CPU build there.
#
# Variables: TORCH_SPEC (a full pip requirement, used as given, e.g. "torch==2.13.0" to take the
# CUDA build on a machine whose GPU is not visible at install time), TORCH_VERSION (default
# 2.13.0), TORCH_CPU_INDEX (default https://download.pytorch.org/whl/cpu).
#
# pip runs without -q: torch is the one large download of a set-up, and its progress bar (on a
# terminal) is what tells a person the install is alive.
set -euo pipefail

python=${1:?usage: install-torch.sh PYTHON}
version=${TORCH_VERSION:-2.13.0}
cpu_index=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}

if "$python" -m pip show torch >/dev/null 2>&1; then
  exit 0  # already there: never replace a torch someone chose
fi

has_nvidia_gpu() {
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
    return 0
  fi
  compgen -G "${NVIDIA_PROC_DIR:-/proc/driver/nvidia/gpus}/*" >/dev/null 2>&1
}

if [ -n "${TORCH_SPEC:-}" ]; then
  echo "install-torch: $TORCH_SPEC (TORCH_SPEC); the CUDA build is ~5.5 GB, the CPU one ~0.75 GB"
  exec "$python" -m pip install "$TORCH_SPEC"
fi

if has_nvidia_gpu; then
  echo "install-torch: NVIDIA GPU found: torch==$version, the CUDA build (~5.5 GB with its" \
    "libraries: several minutes)"
  exec "$python" -m pip install "torch==$version"
fi

if [ "$(uname -s)" = Linux ] && [ "$(uname -m)" = x86_64 ]; then
  echo "install-torch: no NVIDIA GPU: torch==$version+cpu, the CPU build (a 0.2 GB download," \
    "0.75 GB installed: a minute or more)"
  # The CPU index only when it answers: pip would otherwise retry it, five times with back-off,
  # for torch and for each of its dependencies, before using the wheel its configuration has.
  index_args=()
  if "$python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' \
      "$cpu_index/torch/" >/dev/null 2>&1; then
    index_args=(--extra-index-url "$cpu_index")
  fi
  if ! "$python" -m pip install "torch==$version+cpu" ${index_args[@]+"${index_args[@]}"}; then
    cat >&2 <<EOF
install-torch: no CPU build of torch $version could be found: $cpu_index was not reachable
and pip's configuration names no other source. Either
  - point pip at a CPU wheel: PIP_FIND_LINKS=/dir/with/wheels or TORCH_CPU_INDEX=<mirror>, or
  - take the CUDA build anyway (several GB): make TORCH_SPEC="torch==$version" ...
EOF
    exit 1
  fi
  exit 0
fi

echo "install-torch: torch==$version ($(uname -s) $(uname -m): a CPU build from PyPI, ~0.75 GB" \
  "installed)"
exec "$python" -m pip install "torch==$version"
