"""Reading a finetune's training data: the ZIP of images (and optional captions) that users
upload to `POST /v1/finetune`.

The archive comes from an API user, so it is treated as hostile. It is never extracted to disk:
every member is read in memory, in bounded chunks, and the archive is refused (DatasetError,
whose message is shown to the user) as soon as anything about it is unsafe or unusable -- zip
slip paths, symlinks, encryption, nested archives, zip bombs, too many members or images,
oversized or undecodable images, captions that are not UTF-8.

Layout accepted (see API-NOTES "Finetune management"): 1-20 images (.jpg .jpeg .png .webp, any
case, subfolders allowed), each optionally captioned by `name.txt` beside `name.<ext>` in the
same folder. Directory entries, `__MACOSX/`, dotfiles (`.DS_Store`, `._x.png`) and files of
other types are skipped; a caption without an image is ignored.

Torch-free on purpose: the API process validates uploads before queueing a training job and
must not need the engine's dependencies.
"""

from __future__ import annotations

import io
import itertools
import lzma
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import PurePosixPath

from PIL import Image, ImageOps

MiB = 1024 * 1024

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp"})
CAPTION_EXTENSION = ".txt"
# What Pillow may call an accepted file once decoded. MPO is how Pillow names a JPEG that
# carries extra frames (most phone cameras write those), so it is a JPEG for our purposes.
_ALLOWED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP"})
# Plugins Pillow may try when identifying a member: restricting them keeps the dozens of
# rarely-exercised decoders (and their bugs) away from user bytes.
_OPEN_FORMATS = ("JPEG", "PNG", "WEBP")

_NESTED_EXTENSIONS = (".zip", ".tar", ".gz", ".tgz", ".7z", ".rar", ".bz2", ".xz", ".zst")
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_OTHER_ARCHIVE_MAGICS = (
    b"\x1f\x8b",  # gzip
    b"7z\xbc\xaf\x27\x1c",  # 7-Zip
    b"Rar!\x1a\x07",  # RAR 4 and 5
    b"\xfd7zXZ\x00",  # xz
    b"\x28\xb5\x2f\xfd",  # zstandard
)
_CENTRAL_DIRECTORY_SIGNATURE = b"PK\x01\x02"
# Size of a local file header without its name and extra field: the smallest distance from a
# member's header to the end of its data besides the compressed bytes themselves.
_LOCAL_HEADER_MIN = 30

_READ_CHUNK = 1 * MiB
# Below this many uncompressed bytes the compression ratio is not checked: small members that
# are mostly zeros (`.DS_Store`, AppleDouble `._x` files, padded captions) legitimately compress
# far better than 200:1, and a few KiB cannot hurt us however well they compress.
_RATIO_FLOOR = 64 * 1024
_MAX_NAME_SHOWN = 200

_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Limits:
    """Bounds on an uploaded training archive; the defaults are what the API applies."""

    max_images: int = 20
    max_members: int = 200
    max_total_uncompressed: int = 512 * MiB
    max_member_uncompressed: int = 64 * MiB
    # Uncompressed size over compressed size, per member: the zip-bomb guard.
    max_ratio: float = 200.0
    max_pixels: int = 4096 * 4096
    max_caption_chars: int = 2000


@dataclass(frozen=True)
class Sample:
    """One training image: `name` is its path inside the archive (folders kept)."""

    name: str
    image: Image.Image  # RGB, EXIF orientation applied, transparency flattened onto white
    caption: str | None


class DatasetError(ValueError):
    """The archive is refused; the message is meant for the API user who uploaded it."""


def read_zip(data: bytes, limits: Limits = Limits()) -> list[Sample]:
    """Validate an uploaded training ZIP and decode its images, sorted by member name.

    Raises DatasetError naming the first problem found (and the member concerned).
    """
    # zipfile parses the whole central directory before we can count entries; a cheap scan for
    # central-directory signatures refuses an archive of millions of tiny entries before that.
    # (Stray signatures inside member data can only make this over-count, never under-count,
    # and a real archive would need hundreds of them to be refused wrongly.)
    if data.count(_CENTRAL_DIRECTORY_SIGNATURE) > limits.max_members:
        raise DatasetError(f"archive has more than {limits.max_members} entries")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        raise DatasetError("upload is not a valid ZIP archive") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_members:  # the scan above already caught this; kept as the rule
            raise DatasetError(f"archive has more than {limits.max_members} entries")
        _check_entries(infos, limits)
        _check_layout(infos, archive.start_dir)

        images: dict[str, zipfile.ZipInfo] = {}
        captions: dict[str, zipfile.ZipInfo] = {}
        others: list[zipfile.ZipInfo] = []
        for info in infos:
            if info.is_dir() or _is_junk(info.filename):
                continue
            suffix = PurePosixPath(info.filename).suffix.lower()
            stem = info.filename[: len(info.filename) - len(suffix)]
            if suffix in IMAGE_EXTENSIONS:
                images[info.filename] = info
            elif suffix == CAPTION_EXTENSION:
                if stem in captions:
                    # `a.txt` and `a.TXT` side by side: which one captions `a.png` is a guess.
                    raise DatasetError(
                        f"zip members {_show(captions[stem].filename)} and "
                        f"{_show(info.filename)} both caption the same image"
                    )
                captions[stem] = info
            else:
                others.append(info)

        if not images:
            raise DatasetError(
                "archive contains no usable image (expected .jpg, .jpeg, .png or .webp files)"
            )
        if len(images) > limits.max_images:
            raise DatasetError(
                f"archive contains {len(images)} images; at most {limits.max_images} are allowed"
            )

        budget = _Budget(limits)
        # Files we otherwise skip are still opened far enough to see whether they are archives:
        # a nested archive is refused whatever it is called.
        for info in others:
            _check_not_archive(info.filename, _peek(archive, info))

        samples: list[Sample] = []
        for name in sorted(images):
            info = images[name]
            suffix = PurePosixPath(name).suffix
            caption_info = captions.get(name[: len(name) - len(suffix)])
            caption = None
            if caption_info is not None:
                caption = _decode_caption(
                    caption_info.filename, budget.read(archive, caption_info), limits
                )
            image = _decode_image(name, budget.read(archive, info), limits)
            samples.append(Sample(name=name, image=image, caption=caption))
        return samples


def _show(name: str) -> str:
    """`name` quoted for an error message: control characters escaped (so a crafted name
    cannot forge lines in logs or the API answer) and very long names shortened."""
    shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in name)
    if len(shown) > _MAX_NAME_SHOWN:
        shown = shown[: _MAX_NAME_SHOWN - 3] + "..."
    return f"'{shown}'"


def _check_entries(infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    """Checks on the central directory alone, before any member is decompressed."""
    seen: set[str] = set()
    declared_total = 0
    for info in infos:
        name = info.orig_filename
        _check_path(name)
        if info.filename in seen:
            raise DatasetError(f"zip member {_show(name)} appears more than once in the archive")
        seen.add(info.filename)
        if info.flag_bits & 0x1:
            raise DatasetError(f"zip member {_show(name)} is encrypted")
        # Unix file type bits live in the top 16 bits of external_attr.
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DatasetError(f"zip member {_show(name)} is a symbolic link")
        if not info.is_dir() and name.lower().endswith(_NESTED_EXTENSIONS):
            raise DatasetError(f"zip member {_show(name)} is a nested archive")
        if info.file_size > limits.max_member_uncompressed:
            raise DatasetError(
                f"zip member {_show(name)} is {info.file_size} bytes uncompressed; "
                f"at most {limits.max_member_uncompressed} are allowed per file"
            )
        if info.file_size > _ratio_bound(info, limits):
            raise DatasetError(
                f"zip member {_show(name)} compresses {info.file_size} bytes into "
                f"{info.compress_size} (more than {limits.max_ratio:g}:1): "
                "refusing a likely zip bomb"
            )
        declared_total += info.file_size
        if declared_total > limits.max_total_uncompressed:
            raise DatasetError(
                f"archive unpacks to more than {limits.max_total_uncompressed} bytes "
                f"(at zip member {_show(name)})"
            )


def _check_path(name: str) -> None:
    """Refuse any name that a naive extractor could write outside its target folder, or that
    is not a plain relative path. Nothing is ever extracted here, but names end up in logs,
    answers and possibly file names later, so only boring ones get through."""
    if "\x00" in name:
        raise DatasetError(f"zip member {_show(name)} has a NUL byte in its name")
    if "\\" in name:
        # Windows extractors treat backslashes as separators: `a\..\..\x` is a zip slip there.
        raise DatasetError(
            f"zip member {_show(name)} uses backslashes in its path (only '/' is allowed)"
        )
    if name.startswith("/") or _DRIVE.match(name):
        raise DatasetError(f"zip member {_show(name)} escapes the archive root (absolute path)")
    parts = (name[:-1] if name.endswith("/") else name).split("/")
    if ".." in parts:
        raise DatasetError(f"zip member {_show(name)} escapes the archive root")
    if any(part in ("", ".") for part in parts) or not name.isprintable():
        raise DatasetError(f"zip member {_show(name)} has an invalid path")


def _check_layout(infos: list[zipfile.ZipInfo], central_directory_start: int) -> None:
    """Refuse members whose data overlap: the "non-recursive" zip bomb points many entries at
    one highly compressed run of bytes. zipfile itself only checks this from Python 3.12."""
    ordered = sorted(infos, key=lambda info: info.header_offset)
    for current, following in itertools.pairwise(ordered):
        # A lower bound of where `current` ends: its name and extra field only add to it.
        end = current.header_offset + _LOCAL_HEADER_MIN + current.compress_size
        if end > following.header_offset:
            raise DatasetError(
                f"zip members {_show(current.orig_filename)} and "
                f"{_show(following.orig_filename)} overlap: refusing a likely zip bomb"
            )
    if ordered:
        last = ordered[-1]
        if last.header_offset + _LOCAL_HEADER_MIN + last.compress_size > central_directory_start:
            raise DatasetError(f"zip member {_show(last.orig_filename)} is corrupt (truncated)")


def _is_junk(name: str) -> bool:
    """macOS resource forks and hidden files (`.DS_Store`, `._x.png`, `.git/...`)."""
    parts = name.split("/")
    return any(part == "__MACOSX" or part.startswith(".") for part in parts)


def _ratio_bound(info: zipfile.ZipInfo, limits: Limits) -> float:
    return max(limits.max_ratio * info.compress_size, _RATIO_FLOOR)


def _check_not_archive(name: str, head: bytes) -> None:
    if (
        head.startswith(_ZIP_MAGICS)
        or head.startswith(_OTHER_ARCHIVE_MAGICS)
        # bzip2: "BZh" + block size digit + block magic; the 3-byte prefix alone is plain text.
        or (head.startswith(b"BZh") and head[4:10] == b"1AY&SY")
        or head[257:262] == b"ustar"
    ):
        raise DatasetError(f"zip member {_show(name)} is a nested archive")


def _peek(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The first bytes of a member, enough to recognise an archive by its magic number."""
    with _zip_errors(info.orig_filename), archive.open(info) as fh:
        return fh.read(512)


class _Budget:
    """Reads whole members for one archive, keeping count of the bytes produced so far."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.used = 0

    def read(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
        name = info.orig_filename
        data = _read_member(archive, info, self.limits, used=self.used)
        self.used += len(data)
        # zipfile stops at the declared size itself (and then fails the CRC), but a stream that
        # ends early comes back short without complaint.
        if len(data) != info.file_size:
            raise DatasetError(
                f"zip member {_show(name)} is corrupt: {len(data)} bytes instead of the "
                f"{info.file_size} its header declares"
            )
        _check_not_archive(name, data[:512])
        return data


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits, *, used: int = 0
) -> bytes:
    """Decompress one member in chunks, stopping as soon as the bytes it actually produces go
    over the per-member bound, the archive's total bound (`used` bytes are spent already) or
    the compression ratio: the header's sizes were checked before, but the header is the
    uploader's to write, so the decompressor's output is what counts."""
    name = info.orig_filename
    ratio_bound = _ratio_bound(info, limits)
    chunks: list[bytes] = []
    produced = 0
    with _zip_errors(name), archive.open(info) as fh:
        while chunk := fh.read(_READ_CHUNK):
            produced += len(chunk)
            if produced > limits.max_member_uncompressed:
                raise DatasetError(
                    f"zip member {_show(name)} is more than {limits.max_member_uncompressed} "
                    "bytes uncompressed"
                )
            if used + produced > limits.max_total_uncompressed:
                raise DatasetError(
                    f"archive unpacks to more than {limits.max_total_uncompressed} bytes "
                    f"(at zip member {_show(name)})"
                )
            if produced > ratio_bound:
                raise DatasetError(
                    f"zip member {_show(name)} decompresses to more than {limits.max_ratio:g} "
                    "times its compressed size: refusing a likely zip bomb"
                )
            chunks.append(chunk)
    return b"".join(chunks)


@contextmanager
def _zip_errors(name: str) -> Iterator[None]:
    """Turns what zipfile and its decompressors raise on damaged data into DatasetError."""
    shown = _show(name)
    try:
        yield
    except DatasetError:
        # A ValueError too: must not be mistaken for a decompressor's complaint below.
        raise
    except NotImplementedError as exc:
        raise DatasetError(f"zip member {shown} uses an unsupported compression method") from exc
    except RuntimeError as exc:
        # zipfile's way of saying "password required" (the flag bit was checked already, but
        # zipfile also looks at the local header, which may disagree).
        if "encrypted" in str(exc):
            raise DatasetError(f"zip member {shown} is encrypted") from exc
        raise
    except zipfile.BadZipFile as exc:
        if "CRC" in str(exc):
            raise DatasetError(f"zip member {shown} is corrupt (CRC check failed)") from exc
        raise DatasetError(f"zip member {shown} is corrupt ({exc})") from exc
    except (zlib.error, lzma.LZMAError, EOFError, OSError, ValueError) as exc:
        raise DatasetError(f"zip member {shown} is corrupt (cannot be decompressed)") from exc


def _decode_caption(name: str, data: bytes, limits: Limits) -> str | None:
    try:
        # utf-8-sig: Windows editors like to start UTF-8 files with a byte-order mark.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"caption {_show(name)} is not valid UTF-8 (at byte {exc.start})"
        ) from exc
    text = text.strip()
    if len(text) > limits.max_caption_chars:
        raise DatasetError(
            f"caption {_show(name)} is {len(text)} characters long; "
            f"at most {limits.max_caption_chars} are allowed"
        )
    # An empty caption file means "no caption", not "caption with the empty string".
    return text or None


def _decode_image(name: str, data: bytes, limits: Limits) -> Image.Image:
    shown = _show(name)
    try:
        with Image.open(io.BytesIO(data), formats=_OPEN_FORMATS) as opened:
            if opened.format not in _ALLOWED_FORMATS:
                raise DatasetError(
                    f"image {shown} is a {opened.format} file; only JPEG, PNG and WebP are allowed"
                )
            # The size comes from the header: refuse before Pillow allocates the pixels.
            width, height = opened.size
            if width * height > limits.max_pixels:
                raise DatasetError(
                    f"image {shown} is {width}x{height} pixels; "
                    f"at most {limits.max_pixels} pixels are allowed"
                )
            if width == 0 or height == 0:
                raise DatasetError(f"image {shown} has no pixels")
            opened.load()
            return _to_rgb(ImageOps.exif_transpose(opened))
    except DatasetError:
        raise
    except Image.DecompressionBombError as exc:
        # Pillow's own bound (far above ours unless the limits were raised) fired in open().
        raise DatasetError(f"image {shown} is larger than {limits.max_pixels} pixels") from exc
    except Exception as exc:
        # Pillow's decoders raise a zoo of types on malformed input (OSError, SyntaxError,
        # ValueError, struct.error, EOFError, ...); to the user every one means "broken image".
        raise DatasetError(
            f"image {shown} cannot be decoded as JPEG, PNG or WebP ({type(exc).__name__})"
        ) from exc


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB, with transparent areas flattened onto white: a plain convert("RGB") would keep
    whatever colour hides under alpha 0 (often black), teaching the model a fake background."""
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # 16-bit / float greyscale: convert("RGB") would clip, not rescale, to 8 bits.
        image = image.convert("I").point(lambda v: v / 256).convert("L")
    return image.convert("RGB")
