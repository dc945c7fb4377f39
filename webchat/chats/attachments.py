"""Files sent in a chat: checking uploads, storing them, thumbnails, erasing them with their message.

Why it is built this way:
- The uploader's file name is only a label. Files are written and read by a random storage name
  inside UPLOAD_DIR (stored_path), never by anything a request says.
- A file counts as an image only when Pillow decodes it as PNG, JPEG, GIF or WebP; only those are
  ever served inline, with the type Pillow found (attachment_routes.py). Whatever the client
  claimed (a name ending in .png, a Content-Type) is ignored.
- Thumbnails are made once, at upload, as new WebP files: orientation applied, nothing of the
  original's metadata (location, camera) copied.
- Decoding happens off the gevent loop: one big image must not stall every socket of the worker.
"""
import logging
import re
import secrets
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError
from werkzeug.datastructures import FileStorage

from ..extensions import db
from ..models import Attachment, Membership, Message
from ..text_rules import without_controls
from . import messaging
from .errors import ChatError

log = logging.getLogger(__name__)

IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
DOWNLOAD_TYPE = "application/octet-stream"
THUMBNAIL_BOX = (400, 300)
THUMBNAIL_SUFFIX = ".thumb.webp"
STORAGE_NAME = re.compile(r"^[A-Za-z0-9_-]{32}$")
MAX_FILES = 10
MAX_NAME_LENGTH = 255
# Pillow's own bomb threshold is ~89 megapixels; a decoded image costs 4 bytes a pixel.
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000


# ----- limits ----------------------------------------------------------------------------------

def upload_limit(config=None) -> int:
    """Bytes one send may carry, all its files together (WEBCHAT_MAX_UPLOAD_MB)."""
    config = config if config is not None else current_app.config
    return int(float(config["MAX_UPLOAD_MB"]) * 1024 * 1024)


def request_limit(config) -> int:
    """MAX_CONTENT_LENGTH: the upload limit plus room for the form around the files.

    A body past it is cut off before it is read (a 413); one a little over the upload limit is
    read and refused by store_uploads, which can name the file that is too big.
    """
    return upload_limit(config) + 256 * 1024


def human_size(size: int) -> str:
    """1 byte, 512 bytes, 12.3 KB, 4.5 MB (powers of 1024, as file managers show them)."""
    if size < 1024:
        return f"{size} byte{'s' if size != 1 else ''}"
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if size < 1024 or unit == "GB":
            return f"{size:.1f} {unit}".replace(".0 ", " ")
    raise AssertionError("unreachable")


def limit_text() -> str:
    return human_size(upload_limit())


# ----- where files live ------------------------------------------------------------------------

def upload_dir() -> Path:
    return Path(current_app.config["UPLOAD_DIR"]).resolve()


def stored_path(storage_name: str, thumbnail: bool = False) -> Path:
    """The file of a storage name, inside the upload folder; ValueError for any other name."""
    if not STORAGE_NAME.match(storage_name or ""):
        raise ValueError("not a storage name")
    base = upload_dir()
    path = (base / storage_name[:2] / (storage_name + (THUMBNAIL_SUFFIX if thumbnail else ""))).resolve()
    if not path.is_relative_to(base):
        raise ValueError("outside the upload folder")
    return path


def display_name(raw: str | None) -> str:
    """The name to show for an uploaded file: its last path part, without control characters.

    Browsers send a bare name; a crafted request may send "../../etc/passwd" or a NUL. The result
    is never used as a path, but it is shown, put in URLs and in Content-Disposition.
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]
    # NUL, newlines, and bidi overrides that make "gpj.exe" read as "exe.jpg".
    name = without_controls(name).strip()
    if not name.strip("."):
        name = "file"
    if len(name) > MAX_NAME_LENGTH:
        stem, dot, ext = name.rpartition(".")
        ext = dot + ext if dot and len(ext) <= 16 else ""
        name = name[:MAX_NAME_LENGTH - len(ext)].rstrip() + ext
    return name


# ----- storing ---------------------------------------------------------------------------------

@dataclass
class ImageFacts:
    content_type: str
    width: int
    height: int


def store_uploads(files: list[FileStorage]) -> list[Attachment]:
    """Check and write the uploaded files; Attachment rows (not yet in the session) describe them.

    Raises ChatError, with nothing left on disk, for no file, an empty or oversized one, too
    many, or an image too large to decode.
    """
    chosen = [f for f in files if f is not None and f.filename]
    if not chosen:
        raise ChatError("Choose a file to attach.")
    if len(chosen) > MAX_FILES:
        raise ChatError(f"You can send up to {MAX_FILES} files at a time. Nothing was sent.")
    limit, total = upload_limit(), 0
    for upload in chosen:
        size = _size_of(upload)
        if size == 0:
            raise ChatError(f"“{display_name(upload.filename)}” is empty (0 bytes). Nothing was sent — "
                            "choose the file again.")
        if size > limit:
            raise ChatError(f"“{display_name(upload.filename)}” is {human_size(size)}; files can be up to "
                            f"{limit_text()}. Nothing was sent.", 413)
        total += size
    if total > limit:
        raise ChatError(f"Those files add up to {human_size(total)}; you can send up to {limit_text()} at a "
                        "time. Nothing was sent — send them in parts.", 413)
    stored: list[Attachment] = []
    try:
        for upload in chosen:
            stored.append(_store_one(upload))
    except BaseException:
        discard(stored)
        raise
    return stored


def _size_of(upload: FileStorage) -> int:
    stream = upload.stream
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return size


def _store_one(upload: FileStorage) -> Attachment:
    storage_name = secrets.token_urlsafe(24)  # 32 characters of [A-Za-z0-9_-]
    path = stored_path(storage_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    # "x": a (vanishingly unlikely) name clash fails instead of overwriting someone's file.
    with open(path, "xb") as out:
        shutil.copyfileobj(upload.stream, out, 1024 * 1024)
    attachment = Attachment(filename=display_name(upload.filename), content_type=DOWNLOAD_TYPE,
                            size=path.stat().st_size, storage_name=storage_name, has_thumbnail=False)
    try:
        facts = _off_the_loop(make_thumbnail, path, stored_path(storage_name, thumbnail=True),
                              int(current_app.config.get("MAX_IMAGE_PIXELS", DEFAULT_MAX_IMAGE_PIXELS)))
    except BaseException:
        discard([attachment])
        raise
    if facts:
        attachment.content_type, attachment.width, attachment.height = facts.content_type, facts.width, facts.height
        attachment.has_thumbnail = True
    return attachment


class ImageTooLarge(Exception):
    def __init__(self, width: int, height: int) -> None:
        super().__init__(f"{width}x{height}")
        self.width, self.height = width, height


def make_thumbnail(source: Path, target: Path, max_pixels: int) -> ImageFacts | None:
    """Write target as a WebP thumbnail of source when source is a PNG, JPEG, GIF or WebP image.

    None when it is not one of those (or does not decode: truncated, corrupt); it is then an
    ordinary file. Raises ImageTooLarge before decoding an image of more than max_pixels.
    Runs in a worker thread: no app context here.
    """
    try:
        with Image.open(source, formats=list(IMAGE_TYPES)) as image:
            kind = image.format
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLarge(width, height)
            if image.getexif().get(ExifTags.Base.Orientation) in (5, 6, 7, 8):
                width, height = height, width
            if kind == "JPEG":  # decode at a fraction of the size: far less memory and time
                image.draft("RGB", (THUMBNAIL_BOX[0] * 2, THUMBNAIL_BOX[1] * 2))
            image.load()
            upright = ImageOps.exif_transpose(image)
            has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
            thumbnail = upright.convert("RGBA" if has_alpha else "RGB")
            thumbnail.thumbnail(THUMBNAIL_BOX, Image.Resampling.LANCZOS)
            thumbnail.info.clear()  # nothing of the original's metadata travels on
            with open(target, "xb") as out:
                thumbnail.save(out, "WEBP", quality=80)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageTooLarge(0, 0) from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        _unlink(target)
        return None
    return ImageFacts(IMAGE_TYPES[kind], width, height)


def _off_the_loop(function, *args):
    """Run function in gevent's thread pool when the worker is gevent's, else right here.

    Pillow releases the GIL while it decodes and resizes, so the worker's sockets keep going.
    A too-large image is reported to the uploader, not raised as a server error.
    """
    try:
        result = _in_thread_pool(function, *args)
    except ImageTooLarge as e:
        size = f" is {e.width:,}×{e.height:,} pixels;" if e.width else " is too large to open;"
        limit = int(current_app.config.get("MAX_IMAGE_PIXELS", DEFAULT_MAX_IMAGE_PIXELS))
        raise ChatError(f"That image{size} webchat takes images of up to {limit / 1e6:g} megapixels. "
                        "Nothing was sent — send a smaller version.", 413) from None
    return result


def _in_thread_pool(function, *args):
    try:
        from gevent import get_hub, monkey
    except ImportError:  # pragma: no cover - gevent is a dependency; kept for plain threads
        return function(*args)
    if not monkey.is_module_patched("socket"):
        return function(*args)
    return get_hub().threadpool.apply(function, args)


def discard(attachments: list[Attachment]) -> None:
    """Remove the files of attachments that were not (or are no longer) kept."""
    for attachment in attachments:
        for thumbnail in (False, True):
            _unlink(stored_path(attachment.storage_name, thumbnail=thumbnail))


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as e:  # the row is gone either way; an orphan file is logged, not fatal
        log.warning("attachment.unlink_failed name=%s error=%s", path.name, type(e).__name__)


# ----- sending and deleting ----------------------------------------------------------------------

def send_with_files(membership: Membership, body: str | None, client_id: str | None,
                    files: list[FileStorage]) -> messaging.SendResult:
    """Store the files and send one message carrying them (the text, as caption, may be empty).

    A client id already used answers the message it made; the files of the repeat are removed.
    """
    attachments = store_uploads(files)
    for attachment in attachments:
        attachment.chat_id, attachment.uploader_id = membership.chat_id, membership.user_id
    try:
        result = messaging.send_message(membership, body, client_id, attachments=attachments)
    except BaseException:
        discard(attachments)
        raise
    if not result.created:
        discard(attachments)
    else:
        log.info("attachments.stored chat=%d message=%d files=%d bytes=%d", membership.chat_id,
                 result.message.id, len(attachments), sum(a.size for a in attachments))
    return result


def remove_from(message: Message) -> list[Attachment]:
    """Delete a message's attachment rows in the caller's transaction; discard() the returned
    ones after it commits (files go only once their rows are gone for good)."""
    attachments = list(message.attachments)
    for attachment in attachments:
        db.session.delete(attachment)
    return attachments
