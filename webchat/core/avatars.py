"""People's pictures: an upload made into a small square WebP, stored and handed out like attachments.

The file is written by a random storage name inside UPLOAD_DIR (attachments.stored_path) and read
only by the name on its owner's row. What an upload is, Pillow alone decides, through the
attachments' own thumbnailer (make_thumbnail: PNG, JPEG, GIF or WebP only, nothing decoded past
PREVIEW_MEMORY_MB, off the gevent loop, orientation applied, no metadata kept); its thumbnail is
then cut to a square. A new picture replaces the old one, whose file goes once the row says so.
Without a picture a person is shown by initials on a colour of their own (templating.avatar_*).
"""
import secrets
import shutil
import tempfile
from pathlib import Path

from PIL import Image, ImageOps
from sqlalchemy import or_, select
from werkzeug.datastructures import FileStorage

from ..extensions import db
from ..models import User
from . import attachments, workspace
from .accounts import AccountError
from .errors import not_found

AVATAR_SIZE = 128  # pixels a side: shown at 2.25em, sharp on a screen of three pixels per point
MAX_AVATAR_BYTES = 5 * 1024 * 1024
NOT_A_PICTURE, TOO_LARGE = "not a picture", "too large"


def set_avatar(user: User, upload: FileStorage | None) -> None:
    """Make upload the user's picture; AccountError (nothing stored, the old picture kept) for no
    file, an empty or oversized one, or one that is not a PNG, JPEG, GIF or WebP picture webchat
    can shrink."""
    if upload is None or not upload.filename:
        raise AccountError({"avatar": "Choose a picture to upload."})
    name, size = attachments.display_name(upload.filename), attachments.size_of(upload)
    if size == 0:
        raise AccountError({"avatar": f"“{name}” is empty (0 bytes). Choose the picture again."})
    if size > MAX_AVATAR_BYTES:
        raise AccountError({"avatar": f"“{name}” is {attachments.human_size(size)}; a picture can be up to "
                                      f"{attachments.human_size(MAX_AVATAR_BYTES)}. Your picture was not changed."})
    storage_name = secrets.token_urlsafe(24)  # 32 characters, as attachments' names
    final = attachments.stored_path(storage_name)
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=attachments.upload_dir()) as work:
        original = Path(work) / "original"
        with open(original, "xb") as out:
            shutil.copyfileobj(upload.stream, out, 1024 * 1024)
        outcome = attachments.off_the_loop(make_avatar, original, Path(work) / "thumbnail.webp", final,
                                           attachments.preview_memory_limit())
    if outcome == NOT_A_PICTURE:
        raise AccountError({"avatar": f"“{name}” is not a picture webchat can show. Choose a PNG, JPEG, GIF "
                                      "or WebP picture. Your picture was not changed."})
    if outcome == TOO_LARGE:
        raise AccountError({"avatar": f"“{name}” has too many pixels to shrink. Choose a smaller picture. "
                                      "Your picture was not changed."})
    _replace(user, storage_name)


def remove_avatar(user: User) -> None:
    """Show the user by their initials again; the picture's file goes."""
    _replace(user, None)


def _replace(user: User, storage_name: str | None) -> None:
    old = user.avatar_name
    user.avatar_name = storage_name
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        if storage_name:
            attachments.unlink(attachments.stored_path(storage_name))
        raise
    if old:
        attachments.unlink(attachments.stored_path(old))


def make_avatar(source: Path, thumbnail: Path, target: Path, memory_limit: int) -> str | None:
    """Write target as a square WebP of AVATAR_SIZE from the picture in source (its middle, as
    upright as it is shown); None when done, NOT_A_PICTURE or TOO_LARGE when not. Runs in a
    worker thread (attachments.off_the_loop): no app context here."""
    facts = attachments.make_thumbnail(source, thumbnail, memory_limit)
    if facts is None:
        return NOT_A_PICTURE
    if facts.content_type is None:
        return TOO_LARGE
    with Image.open(thumbnail, formats=["WEBP"]) as small:
        square = ImageOps.fit(small.convert("RGBA" if small.mode in ("RGBA", "LA", "PA") else "RGB"),
                              (AVATAR_SIZE, AVATAR_SIZE), Image.Resampling.LANCZOS)
    with open(target, "xb") as out:
        square.save(out, "WEBP", quality=85)
    return None


def avatar_path(viewer: User, user_id: int) -> Path:
    """The picture of a person the viewer may find (workspace.findable; a guest: people they share
    a chat with) or the viewer's own; ChatError 404 for anyone else, and for a person without one."""
    name = db.session.scalar(select(User.avatar_name).where(
        User.id == user_id, User.avatar_name.is_not(None), or_(User.id == viewer.id, workspace.findable(viewer))))
    if name is None:
        raise not_found()
    return attachments.stored_path(name)
