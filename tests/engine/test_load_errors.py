"""Failed model loads: the cause classifier, and what the Engine does with a failure (one log
line, remembered until a later attempt succeeds, retried when idle)."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import requests
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
)

import fluxhost.engine.failures as failures_module
from fluxhost.engine import Engine
from fluxhost.engine.loaderrors import (
    CAUSE_GATED,
    CAUSE_MISSING_DIR,
    CAUSE_NOT_ON_HUB,
    CAUSE_OFFLINE,
    CAUSE_OOM,
    ModelLoadError,
    classify,
)
from fluxhost.kinds import DEPTH_ESTIMATOR_KEY as DEPTH_ESTIMATOR
from fluxhost.settings import Settings

HUB_ID = "fluxhost-tests/never-cached-model"


def _response(status: int) -> SimpleNamespace:
    """What huggingface_hub's HTTP errors read from a response."""
    return SimpleNamespace(status_code=status, headers={}, request=None)


def _raised(exc: BaseException, *, cause: BaseException | None = None,
            context: BaseException | None = None) -> BaseException:
    exc.__cause__, exc.__context__ = cause, context
    return exc


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """No offline flag in the environment (the suite sets one; classify reads it)."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)


# --- the classifier ------------------------------------------------------------------------

def test_gated_repo() -> None:
    assert classify(GatedRepoError("403 gated", response=_response(403))) == CAUSE_GATED


@pytest.mark.parametrize("status", [401, 403])
def test_plain_http_auth_errors_need_a_token(status: int) -> None:
    assert classify(HfHubHTTPError("denied", response=_response(status))) == CAUSE_GATED


def test_repository_not_found() -> None:
    exc = RepositoryNotFoundError("401 not found", response=_response(401))
    assert classify(exc) == CAUSE_NOT_ON_HUB


def test_auth_beats_not_cached_in_diffusers_chain() -> None:
    """diffusers raises 'not fully cached ... check the stacktrace above' from the hub error,
    while handling the cache miss: the hub error is the cause to report."""
    exc = _raised(OSError("Cannot load model x: ... Please check out the root cause in the "
                          "stacktrace above."),
                  cause=GatedRepoError("gated", response=_response(401)),
                  context=LocalEntryNotFoundError("not in the disk cache"))
    assert classify(exc) == CAUSE_GATED


def test_offline_flag_is_named() -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # tests/conftest.py
    exc = _raised(OSError("not fully cached"), cause=OfflineModeIsEnabled("offline mode"))
    assert classify(exc) == f"{CAUSE_OFFLINE} (HF_HUB_OFFLINE is set)"


@pytest.mark.usefixtures("online")
def test_cache_miss() -> None:
    assert classify(LocalEntryNotFoundError("not in the disk cache")) == CAUSE_OFFLINE


@pytest.mark.usefixtures("online")
@pytest.mark.parametrize("error", [
    httpx.ConnectError("[Errno -2] Name or service not known"),
    requests.ConnectionError("connection refused"),
    socket.gaierror(-2, "Name or service not known"),
    ConnectionRefusedError(111, "Connection refused"),
    TimeoutError("timed out"),
])
def test_network_errors(error: BaseException) -> None:
    cause = classify(_raised(OSError("not fully cached"), cause=error))
    assert cause.startswith(f"{CAUSE_OFFLINE} ({type(error).__name__}: ")


def test_wrong_layout() -> None:
    exc = OSError("Error no file named model_index.json found in directory /models/x.")
    assert classify(exc) == "wrong layout: Error no file named model_index.json found in " \
                            "directory /models/x."
    assert classify(EntryNotFoundError("no model_index.json in repo")).startswith("wrong layout")


def test_out_of_memory() -> None:
    class OutOfMemoryError(RuntimeError):  # torch.cuda.OutOfMemoryError, by name
        pass

    assert classify(OutOfMemoryError("CUDA out of memory")) == CAUSE_OOM


def test_anything_else_names_the_exception_in_one_line() -> None:
    assert classify(RuntimeError("boom\nmore detail")) == "RuntimeError: boom"


def test_model_load_error_message() -> None:
    exc = ModelLoadError("fill", "/m/fill", CAUSE_MISSING_DIR)
    assert str(exc) == "cannot load the fill model from '/m/fill': local directory does not exist"
    assert (exc.kind, exc.source, exc.cause) == ("fill", "/m/fill", CAUSE_MISSING_DIR)


# --- the engine ----------------------------------------------------------------------------

@pytest.fixture
def engine_for(make_engine_settings: Callable[..., Settings],
               tmp_path: Path) -> Callable[..., Engine]:
    def make(**models: str) -> Engine:
        return Engine(make_engine_settings(tmp_path / "data", models=models))

    return make


def _load_failure(engine: Engine, kind: str = "base") -> ModelLoadError:
    with pytest.raises(ModelLoadError) as info:
        engine.load(kind)
    return info.value


def test_missing_directory_is_one_log_line(engine_for: Callable[..., Engine], tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    source = str(tmp_path / "no-such-model")
    engine = engine_for(base=source)
    caplog.set_level(logging.INFO)
    error = _load_failure(engine)
    assert (error.kind, error.source, error.cause) == ("base", source, CAUSE_MISSING_DIR)
    assert engine.load_failures() == {"base": str(error)}
    lines = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [r.getMessage() for r in lines] == [str(error)]
    assert lines[0].levelno == logging.ERROR and lines[0].exc_info is None


def test_traceback_only_at_debug(engine_for: Callable[..., Engine], tmp_path: Path,
                                 caplog: pytest.LogCaptureFixture) -> None:
    engine = engine_for(base=str(tmp_path / "missing"))
    caplog.set_level(logging.DEBUG, logger="fluxhost.engine.engine")
    _load_failure(engine)
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG and r.exc_info]
    assert len(debug) == 1


def test_directory_without_model_index(engine_for: Callable[..., Engine],
                                       tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    error = _load_failure(engine_for(base=str(tmp_path / "empty")))
    assert error.cause == ("wrong layout: no model_index.json in it "
                           "(not a diffusers pipeline directory)")


def test_hub_id_offline_and_not_cached(engine_for: Callable[..., Engine]) -> None:
    error = _load_failure(engine_for(base=HUB_ID))
    assert error.source == HUB_ID
    assert error.cause.startswith("not cached and offline/no network")


def test_depth_estimator_failure(engine_for: Callable[..., Engine], dev_model_dir: Path,
                                 tmp_path: Path) -> None:
    engine = engine_for(depth=str(dev_model_dir / "depth"),
                        depth_estimator=str(tmp_path / "missing-estimator"))
    with pytest.raises(ModelLoadError) as info:
        engine.depth_estimator()
    assert info.value.kind == DEPTH_ESTIMATOR
    assert set(engine.load_failures()) == {DEPTH_ESTIMATOR}


def test_failure_is_not_cached(engine_for: Callable[..., Engine], dev_model_dir: Path,
                               tmp_path: Path) -> None:
    """The next request tries again: once the directory appears, it loads."""
    source = tmp_path / "base"
    engine = engine_for(base=str(source))
    _load_failure(engine)
    source.symlink_to(dev_model_dir / "base", target_is_directory=True)
    engine.load("base")
    assert engine.load_failures() == {}
    assert engine.loaded_kinds() == {"base"}


def test_idle_retry_after_backoff(engine_for: Callable[..., Engine], dev_model_dir: Path,
                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "base"
    engine = engine_for(base=str(source))
    _load_failure(engine)
    source.symlink_to(dev_model_dir / "base", target_is_directory=True)
    engine.retry_failed_loads()  # the backoff has not passed: nothing is tried
    assert "base" in engine.load_failures()
    monkeypatch.setattr(failures_module, "RELOAD_RETRY_SECONDS", 0.0)
    source.unlink()
    _load_failure(engine)  # a failure now, with a backoff of zero
    source.symlink_to(dev_model_dir / "base", target_is_directory=True)
    engine.retry_failed_loads()
    assert engine.load_failures() == {}
    assert engine.loaded_kinds() == {"base"}
