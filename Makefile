# Two commands do all set-up on a fresh machine that has only Python:
#   make serve   the server on the embedded default (SQLite, the emoji64 demo model, embedded worker)
#   make test    the whole test suite, lint and type checks included
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# PyTorch is installed first and alone (scripts/install-torch.sh), its build chosen from the
# machine: the CUDA build where an NVIDIA GPU is visible, else the CPU build. TORCH_SPEC
# overrides the choice, e.g. TORCH_SPEC="torch==2.13.0" for the CUDA build on a GPU box whose
# driver is not visible at install time; TORCH_VERSION picks the version.
TORCH_SPEC ?=
TORCH_VERSION ?= 2.13.0
STAMP  := $(VENV)/.fluxhost-installed
EXTRAS ?= server,engine,postgres,s3,dev

.PHONY: serve test lint typecheck install bench sheet emoji-dataset clean

install: $(STAMP)

# A first install takes minutes and writes about 2 GB: each stage says what it does, and pip
# shows its own progress for torch, the one large download.
$(STAMP): pyproject.toml Makefile
	@echo "==> set-up of $(VENV), once (next runs skip it): three stages, a few minutes, ~2 GB"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "==> [1/3] pip: upgrading the venv's installer"
	@$(BIN)/python -m pip install -q --upgrade pip
	@echo "==> [2/3] PyTorch $(TORCH_VERSION) (scripts/install-torch.sh), the largest part"
	@TORCH_SPEC="$(TORCH_SPEC)" TORCH_VERSION="$(TORCH_VERSION)" ./scripts/install-torch.sh $(BIN)/python
	@echo "==> [3/3] fluxhost and its extras [$(EXTRAS)]: diffusers, transformers, FastAPI, SQLAlchemy, ... (~120 packages, a minute or two, quiet)"
	@$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	@$(BIN)/python -c "import torch, diffusers; print('==> done: torch', torch.__version__, '| diffusers', diffusers.__version__)"
	@touch $(STAMP)

# The shipped emoji64 demo (docs/emoji64.md), unless FLUXHOST_MODEL_SET or FLUXHOST_MODELS says
# otherwise; the tests keep the random dev set.
serve: $(STAMP)
	FLUXHOST_MODEL_SET=$${FLUXHOST_MODEL_SET:-emoji} $(BIN)/fluxhost serve --dev

# The suite runs on TEST_WORKERS pytest-xdist processes (-n 0: in this one), a file per process
# at a time (module fixtures stay shared); each process has its own temporary directories,
# PostgreSQL cluster, S3 server and block of loopback ports (tests/e2e/harness.py). Most of the
# suite waits on real servers rather than computing, so 3 processes suit even 2 cores.
TEST_WORKERS ?= 3
test: $(STAMP) lint typecheck
	@./scripts/ensure-postgres.sh
	@./scripts/ensure-chromium.sh
	$(BIN)/python -m pytest -q -rfEs -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/overhead.py

# The README's emoji64 picture sheets (gen 1, and gen 2 with its editing row), from the shipped
# weights.
sheet: $(STAMP)
	$(BIN)/python bench/emoji_sheet.py
	$(BIN)/python bench/emoji2_sheet.py --model models/emoji64

# The emoji64 training data (needs Debian's fonts-noto-color-emoji); see docs/emoji64.md.
EMOJI_WORK ?= ../emoji-train
emoji-dataset: $(STAMP)
	$(BIN)/python -m fluxhost.training.emoji dataset --work $(EMOJI_WORK)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
