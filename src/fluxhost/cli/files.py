"""Files the client commands read and write: input images, training sets, output images."""

from __future__ import annotations

import base64
import io
import sys
import zipfile
from pathlib import Path

from fluxhost.cli.errors import CliError, ExitCode

# What the server's training reader takes (docs/training.md): images, and captions beside them.
DATASET_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".txt"})
IMAGE_SUFFIXES = DATASET_SUFFIXES - {".txt"}
URL_PREFIXES = ("http://", "https://")


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


def write_output(path: Path, data: bytes) -> Path:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path
