"""Files the client commands read and write: input images, training sets, output images."""

from __future__ import annotations

import base64
import io
import os
import sys
import zipfile
from pathlib import Path

from fluxhost.cli.errors import CliError, ExitCode

# What the server's training reader takes (docs/training.md): images, and captions beside them.
DATASET_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".txt"})
IMAGE_SUFFIXES = DATASET_SUFFIXES - {".txt"}
URL_PREFIXES = ("http://", "https://")
# The output_format (the contract's values) each file name extension stands for.
OUTPUT_FORMATS = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp"}
FORMAT_OF_EXTENSION = {"jpg": "jpeg", "png": "png", "webp": "webp"}


def image_field(flag: str, value: str) -> str:
    """The wire value of an image flag: the file's (or stdin's, for '-') bytes as base64;
    an http(s) URL as it is (the hosted API fetches those; fluxhost refuses them)."""
    if value.startswith(URL_PREFIXES):
        return value
    data = read_input(flag, value)
    return base64.b64encode(data).decode("ascii")


def read_input(flag: str, value: str) -> bytes:
    if value == "-":
        return sys.stdin.buffer.read()
    path = Path(value).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"{flag}: cannot read {value}: {exc.strerror or exc}",
                       ExitCode.USAGE) from exc
    if not data:
        raise CliError(f"{flag}: {value} is empty", ExitCode.USAGE)
    return data


def training_set(source: Path) -> bytes:
    """A ZIP for POST /v1/finetune: a .zip file as it is, or a folder's images and .txt
    captions (the files directly in it; other files and subfolders are left out)."""
    if source.is_dir():
        return _zip_folder(source)
    if source.is_file():
        if not zipfile.is_zipfile(source):
            raise CliError(f"{source} is neither a folder nor a ZIP file", ExitCode.USAGE)
        return source.read_bytes()
    raise CliError(f"no such file or folder: {source}", ExitCode.USAGE)


def _zip_folder(folder: Path) -> bytes:
    members = sorted(p for p in folder.iterdir() if p.is_file()
                     and not p.name.startswith(".") and p.suffix.lower() in DATASET_SUFFIXES)
    if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in members):
        raise CliError(f"{folder} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})",
                       ExitCode.USAGE)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in members:
            zf.write(path, path.name)
    return buf.getvalue()


def image_extension(data: bytes) -> str:
    """The file extension for an image's bytes, by its signature ("bin" if unknown)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "bin"


def prepare_output(out: Path) -> str | None:
    """Check `--out` before a task is submitted or waited for (a missing or read-only folder
    found afterwards would waste the task): the output_format its extension names, None for a
    folder or a name without one. A folder gets `<task id>.<ext>` (`output_path`)."""
    if out.is_dir():
        _require_writable(out, out)
        return None
    parent = out.parent
    if not parent.is_dir():
        why = "does not exist" if not parent.exists() else "is not a folder"
        raise CliError(f"--out {out}: folder {parent} {why}", ExitCode.USAGE)
    _require_writable(out, out if out.exists() else parent)
    if not out.suffix:
        return None
    try:
        return OUTPUT_FORMATS[out.suffix.lower()]
    except KeyError:
        raise CliError(f"--out {out}: unknown image extension {out.suffix!r}; use "
                       f"{', '.join(OUTPUT_FORMATS)}", ExitCode.USAGE) from None


def _require_writable(out: Path, checked: Path) -> None:
    mode = os.W_OK | (os.X_OK if checked.is_dir() else 0)
    if not os.access(checked, mode):
        raise CliError(f"--out {out}: {checked} is not writable", ExitCode.USAGE)


def output_path(out: Path | None, task_id: str, data: bytes) -> Path:
    """Where a task's image goes: `out`, or `<task id>.<ext>` in the folder `out` names (the
    current one by default)."""
    if out is not None and not out.is_dir():
        return out
    return (out or Path()) / f"{task_id}.{image_extension(data)}"


def check_format(path: Path, data: bytes, task_id: str) -> None:
    """Refuse to write an image under an extension that names another format (a JPEG in
    x.png); the message says how to fetch it under the right name."""
    wanted = OUTPUT_FORMATS.get(path.suffix.lower())
    actual = image_extension(data)
    if wanted is None or actual not in FORMAT_OF_EXTENSION \
            or FORMAT_OF_EXTENSION[actual] == wanted:
        return
    raise CliError(f"task {task_id}'s image is {FORMAT_OF_EXTENSION[actual].upper()}, not "
                   f"{wanted.upper()} as {path.name} says; write it with: fluxhost result "
                   f"{task_id} -o {path.with_suffix('.' + actual)}")


def write_output(path: Path, data: bytes) -> Path:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path
