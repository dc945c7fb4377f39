"""Files sent in a chat: checking uploads, storing them, thumbnails, erasing them with their message.

Invariants: files are read and written only by a random storage name inside UPLOAD_DIR; only
what Pillow decodes as PNG, JPEG, GIF or WebP counts as an image; nothing is decoded before
membership, budget, sizes and count have passed, nor past PREVIEW_MEMORY_MB; one preview at a
time per worker, off the gevent loop (docs/architecture.md, "Attachments").
"""
import functools
import logging
import re
import secrets
import shutil
import threading
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError
from werkzeug.datastructures import FileStorage

from ..extensions import db
from ..models import Attachment, Membership, Message
from ..text_rules import without_controls
from . import directory, messaging, workspace
from .errors import ChatError, not_found

log = logging.getLogger(__name__)

IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
DOWNLOAD_TYPE = "application/octet-stream"
THUMBNAIL_BOX = (400, 300)
THUMBNAIL_SUFFIX = ".thumb.webp"
STORAGE_NAME = re.compile(r"^[A-Za-z0-9_-]{32}$")
MAX_FILES = 10
MAX_NAME_LENGTH = 255


# ----- limits ----------------------------------------------------------------------------------

def upload_limit(config=None) -> int:
    """Bytes one send may carry, all its files together: the workspace's limit
    (workspace.upload_limit_mb); given the app's config, the server's WEBCHAT_MAX_UPLOAD_MB."""
    megabytes = float(config["MAX_UPLOAD_MB"]) if config is not None else workspace.upload_limit_mb()
    return int(megabytes * 1024 * 1024)


def request_limit(config) -> int:
    """MAX_CONTENT_LENGTH: the upload limit plus room for the form around the files.

    A body past it is cut off before it is read (a 413); one a little over the upload limit is
    read and refused by check_uploads, which can name the file that is too big.
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
    content_type: str | None  # None: a picture too large to preview, kept as a plain download
    width: int
    height: int


def chosen_files(files: list[FileStorage]) -> list[FileStorage]:
    """The files a form actually carries: a file input left empty still sends a part, nameless."""
    return [f for f in files if f is not None and f.filename]


def check_uploads(files: list[FileStorage]) -> list[FileStorage]:
    """The chosen files, when their count and sizes may be sent; ChatError (nothing read or
    decoded yet) for no file, an empty or oversized one, or too many."""
    chosen = chosen_files(files)
    if not chosen:
        raise ChatError("Choose a file to attach.")
    if len(chosen) > MAX_FILES:
        raise ChatError(f"You can send up to {MAX_FILES} files at a time. Nothing was sent.")
    limit, total = upload_limit(), 0
    for upload in chosen:
        size = size_of(upload)
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
    return chosen


def store_uploads(chosen: list[FileStorage]) -> list[Attachment]:
    """Write checked files (check_uploads) and their thumbnails; Attachment rows (not yet in the
    session) describe them. On any error nothing is left on disk."""
    stored: list[Attachment] = []
    try:
        for upload in chosen:
            stored.append(_store_one(upload))
    except BaseException:
        discard(stored)
        raise
    return stored


def size_of(upload: FileStorage) -> int:
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
        facts = off_the_loop(make_thumbnail, path, stored_path(storage_name, thumbnail=True),
                              preview_memory_limit())
    except BaseException:
        discard([attachment])
        raise
    if facts:
        attachment.width, attachment.height = facts.width, facts.height
        if facts.content_type:
            attachment.content_type, attachment.has_thumbnail = facts.content_type, True
    return attachment


def preview_memory_limit(config=None) -> int:
    """Bytes one picture's preview may take to make (WEBCHAT_PREVIEW_MEMORY_MB)."""
    config = config if config is not None else current_app.config
    return int(float(config["PREVIEW_MEMORY_MB"]) * 1024 * 1024)


def thumbnail_size(width: int, height: int) -> tuple[int, int]:
    """The size of the thumbnail of an upright picture: within THUMBNAIL_BOX, never enlarged."""
    scale = min(1.0, THUMBNAIL_BOX[0] / width, THUMBNAIL_BOX[1] / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


# Shrinking first by whole factors to at least this many times the thumbnail, then resampling
# (Pillow's thumbnail() default): as good as resampling the whole, at a fraction of the work.
REDUCING_GAP = 2
STRIP_BYTES = 1024 * 1024  # rows converted and reduced at a time
# What libwebp, the frame it hands over and Pillow's copy of it take together, per pixel.
WEBP_BYTES_PER_PIXEL = 16


@dataclass
class ShrinkPlan:
    """How a loaded picture becomes its thumbnail (in the file's own orientation): whole-factor
    reduction strip by strip (rows at a time, into a picture of `reduced` size), then a resample."""

    final: tuple[int, int]
    factor: tuple[int, int]
    rows: int
    reduced: tuple[int, int]


def plan_shrink(size: tuple[int, int], final: tuple[int, int]) -> ShrinkPlan:
    (width, height), (final_width, final_height) = size, final
    factor = (max(1, int(width / final_width / REDUCING_GAP)), max(1, int(height / final_height / REDUCING_GAP)))
    rows = max(1, STRIP_BYTES // (width * 4) // factor[1]) * factor[1]
    return ShrinkPlan(final, factor, rows, (-(-width // factor[0]), -(-height // factor[1])))


def _pixel_bytes(mode: str) -> int:
    """Bytes a pixel takes in Pillow's memory: one for 1/L/P, two for 16-bit greys, else four
    (RGB is stored as four bytes)."""
    return {"1": 1, "L": 1, "P": 1}.get(mode, 2 if mode.startswith("I;16") else 4)


def preview_cost(image: Image.Image, kind: str, source_size: tuple[int, int], plan: ShrinkPlan) -> int:
    """Bytes of memory making the thumbnail takes at its peak, from the header alone: the decoded
    picture (at its draft size, for a JPEG), plus a strip converted and reduced, plus the reduced
    picture and its resample."""
    width, height = image.size
    decoded = width * height * (WEBP_BYTES_PER_PIXEL if kind == "WEBP" else _pixel_bytes(image.mode))
    if kind == "JPEG" and image.info.get("progressive"):
        # libjpeg keeps every DCT coefficient of a progressive JPEG (two bytes each), whatever
        # the scale it decodes at: per component, the full size over its subsampling.
        layers = getattr(image, "layer", None) or [(None, 1, 1, None)] * len(image.getbands())
        h_max, v_max = max(layer[1] for layer in layers), max(layer[2] for layer in layers)
        decoded += sum(2 * -(-source_size[0] * h // h_max) * -(-source_size[1] * v // v_max)
                       for _, h, v, _ in layers)
    strip = width * plan.rows * 4
    reduced = plan.reduced[0] * plan.reduced[1] * 4
    return decoded + 3 * strip + 2 * reduced


def make_thumbnail(source: Path, target: Path, memory_limit: int) -> ImageFacts | None:
    """Write target as a WebP thumbnail of source when source is a PNG, JPEG, GIF or WebP picture
    whose preview fits in memory_limit bytes (preview_cost, read from its header before decoding).

    None when it is not one of those (or does not decode: truncated, corrupt, past Pillow's own
    bomb limit); it is then an ordinary file. Facts without a content type for a picture whose
    preview would take more: it is an ordinary file too, marked as a picture too large to preview.
    Runs in a worker thread: no app context here.
    """
    try:
        # Pillow warns past ~89 megapixels; preview_cost decides here, whatever the size.
        with warnings.catch_warnings(action="ignore", category=Image.DecompressionBombWarning):
            image = Image.open(source, formats=list(IMAGE_TYPES))
        with image:
            # An MPO (a phone's JPEG with more pictures after the first: depth, HDR gain) shows as its JPEG.
            kind, source_size = "JPEG" if image.format == "MPO" else image.format, image.size
            # A PNG's getexif() decodes the whole picture unless its eXIf came before the pixels.
            exif = image.getexif() if kind != "PNG" or "exif" in image.info else {}
            upright = _upright(source_size, exif)
            final = _upright(thumbnail_size(*upright), exif)
            if kind == "JPEG":  # libjpeg decodes at 1/2, 1/4 or 1/8 of the size: a fraction of the memory
                image.draft("RGB", (final[0] * REDUCING_GAP, final[1] * REDUCING_GAP))
            plan = plan_shrink(image.size, final)
            if preview_cost(image, kind, source_size, plan) > memory_limit:
                return ImageFacts(None, *upright)
            thumbnail = _shrink(image, plan)
            exif = image.getexif()  # complete now: a PNG may carry it after its pixels
            upright = _upright(source_size, exif)
            thumbnail.getexif()[ExifTags.Base.Orientation] = exif.get(ExifTags.Base.Orientation, 1)
            ImageOps.exif_transpose(thumbnail, in_place=True)
            if thumbnail.size != thumbnail_size(*upright):  # turned by an eXIf found late
                thumbnail = thumbnail.resize(thumbnail_size(*upright), Image.Resampling.LANCZOS)
            thumbnail.info.clear()  # nothing of the original's metadata travels on
            with open(target, "xb") as out:
                thumbnail.save(out, "WEBP", quality=80)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError, EOFError,
            MemoryError):
        unlink(target)
        return None
    return ImageFacts(IMAGE_TYPES[kind], *upright)


def _upright(size: tuple[int, int], exif) -> tuple[int, int]:
    """A size as the picture is shown: turned a quarter when its EXIF orientation says so (5-8)."""
    return size[::-1] if exif.get(ExifTags.Base.Orientation) in (5, 6, 7, 8) else size


def _shrink(image: Image.Image, plan: ShrinkPlan) -> Image.Image:
    """The loaded picture as an RGB(A) thumbnail of plan.final, without a full-size copy of it:
    Pillow's convert() and its reduce() of RGBA (premultiplied first) would each make one, so both
    run on a strip of rows at a time."""
    image.load()
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    mode = "RGBA" if has_alpha else "RGB"
    width, height = image.size
    reduced = Image.new(mode, plan.reduced)
    for top in range(0, height, plan.rows):
        strip = image.crop((0, top, width, min(height, top + plan.rows)))
        strip = strip if strip.mode == mode else strip.convert(mode)
        reduced.paste(strip.reduce(plan.factor), (0, top // plan.factor[1]))
    return reduced.resize(plan.final, Image.Resampling.LANCZOS)


def off_the_loop(function, *args):
    """Run function in gevent's thread pool when the worker is gevent's, else right here; one at
    a time per process.

    Pillow releases the GIL while it decodes and resizes, so the worker's sockets keep going.
    preview_cost bounds the memory of one preview; taking turns bounds the worker's, however
    many uploads arrive at once.
    """
    with _preview_slot():
        return _in_thread_pool(function, *args)


@functools.cache
def _preview_slot():
    """The process's one turn: under gevent a lock its greenlets (not the whole worker) wait on."""
    try:
        from gevent import monkey
        from gevent.lock import BoundedSemaphore
    except ImportError:  # pragma: no cover - gevent is a dependency; kept for plain threads
        return threading.BoundedSemaphore(1)
    return BoundedSemaphore(1) if monkey.is_module_patched("socket") else threading.BoundedSemaphore(1)


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
            unlink(stored_path(attachment.storage_name, thumbnail=thumbnail))


def unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as e:  # the row is gone either way; an orphan file is logged, not fatal
        log.warning("attachment.unlink_failed name=%s error=%s", path.name, type(e).__name__)


# ----- sending and deleting ----------------------------------------------------------------------

def send_with_files(membership: Membership, body: str | None, client_id: str | None,
                    files: list[FileStorage], reply_to_id: int | None = None, *, thread_id: int | None = None,
                    broadcast: bool = False) -> messaging.SendResult:
    """Store the files and send one message carrying them (the text, as caption, may be empty;
    reply_to_id: the message it quotes; thread_id: a reply in that message's thread, broadcast:
    shown in the channel too; what may be answered is messaging.answering's to say).

    In this order, so that a refused send decodes nothing: the files' count and sizes, then the
    message (its id, its text, the sender's budget), then the files are written and previewed.
    A client id already used answers the message it made, and stores nothing.
    """
    chosen = check_uploads(files)
    draft = messaging.draft_message(membership, body, client_id, has_attachments=True, thread_id=thread_id,
                                    broadcast=broadcast, reply_to_id=reply_to_id)
    if isinstance(draft, messaging.SendResult):
        return draft
    attachments = store_uploads(chosen)
    for attachment in attachments:
        attachment.chat_id, attachment.uploader_id = membership.chat_id, membership.user_id
    try:
        result = messaging.store_draft(draft, attachments)
    except BaseException:
        discard(attachments)
        raise
    if not result.created:  # the same client id stored by another request meanwhile
        discard(attachments)
    else:
        log.info("attachments.stored chat=%d message=%d files=%d bytes=%d", membership.chat_id,
                 result.message.id, len(attachments), sum(a.size for a in attachments))
    return result


def attachment_or_404(chat_id: int, user, attachment_id: int) -> Attachment:
    """An attachment of a message in this chat, for a member of it or someone previewing a public
    channel (directory.readable_or_404); ChatError 404 for anything else."""
    directory.readable_or_404(chat_id, user)
    attachment = db.session.get(Attachment, attachment_id) if attachment_id <= messaging.MAX_ID else None
    if (attachment is None or attachment.chat_id != chat_id or attachment.message is None
            or attachment.message.is_deleted):
        raise not_found()
    return attachment


def remove_from(message: Message) -> list[Attachment]:
    """Delete a message's attachment rows in the caller's transaction; discard() the returned
    ones after it commits (files go only once their rows are gone for good)."""
    attachments = list(message.attachments)
    for attachment in attachments:
        db.session.delete(attachment)
    return attachments
