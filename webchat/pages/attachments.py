"""Sending files, and handing them out to the chat's members only.

Every response that carries a stored file is sent so that it can never act as a page of ours:
images (PNG, JPEG, GIF, WebP, as Pillow found them at upload) inline with their real type,
anything else as application/octet-stream to download; always with nosniff and a sandboxing
Content-Security-Policy. An uploaded HTML or SVG file opened from its link is a download, and
would run no script even if a browser showed it.
"""
from flask import abort, current_app, make_response, request, send_file
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from ..core import attachments, avatars, service
from ..errors import render_error
from ..models import Attachment
from . import bp
from .views import answer_sent, chat_pane_refusal, refusals, reply_to_field

# Nothing in a file runs or loads anything. Inline style only: the browser's own page around an
# image opened by itself (centred on a dark ground) is styled so, and an image holds no markup.
FILE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


@bp.record_once
def _limit_request_bodies(state) -> None:
    """Bodies past the upload limit (and a little room) are cut off before they are read."""
    config = state.app.config
    if config.get("MAX_CONTENT_LENGTH") is None:
        config["MAX_CONTENT_LENGTH"] = attachments.request_limit(config)


@bp.app_template_filter("filesize")
def filesize(size: int) -> str:
    return attachments.human_size(size)


@bp.app_template_global()
def upload_limit_bytes() -> int:
    return attachments.upload_limit()


@bp.app_template_global()
def thumbnail_size(attachment: Attachment) -> tuple[int, int]:
    """The thumbnail's width and height (the page reserves the space before the image arrives)."""
    return attachments.thumbnail_size(attachment.width or 1, attachment.height or 1)


@bp.errorhandler(RequestEntityTooLarge)
def upload_too_large(e):
    return render_error(413, f"That upload is larger than the {attachments.limit_text()} webchat takes at a time. "
                             "Nothing was sent.")


@bp.post("/chats/<id:chat_id>/attachments")
def upload_attachments(chat_id: int):
    """Send files (and an optional caption) as one message; every open page of the chat shows it."""
    membership = service.membership_or_404(chat_id, current_user)
    body, client_id = request.form.get("body", ""), request.form.get("client_id")
    # With htmx the refusal goes to the flash: the page's uploader shows it under the composer,
    # files and text kept.
    with refusals(page=chat_pane_refusal(membership, body, client_id)):
        result = attachments.send_with_files(membership, body, client_id, request.files.getlist("files"),
                                             reply_to_id=reply_to_field())
    return answer_sent(chat_id, result.message)


@bp.get("/chats/<id:chat_id>/attachments/<id:attachment_id>/<filename>")
def download_attachment(chat_id: int, attachment_id: int, filename: str):
    """The file as it was uploaded: an image inline, anything else as a download.

    The name in the URL is only for the browser's "save as"; the id decides which file it is.
    """
    attachment = attachments.attachment_or_404(chat_id, current_user, attachment_id)
    inline = attachment.has_thumbnail and attachment.content_type in attachments.IMAGE_TYPES.values()
    return _send_stored(attachments.stored_path(attachment.storage_name),
                        attachment.content_type if inline else attachments.DOWNLOAD_TYPE,
                        inline=inline, name=attachment.filename)


@bp.get("/chats/<id:chat_id>/thumbnails/<id:attachment_id>")
def attachment_thumbnail(chat_id: int, attachment_id: int):
    """The small WebP picture of an image attachment, made when it was uploaded."""
    attachment = attachments.attachment_or_404(chat_id, current_user, attachment_id)
    if not attachment.has_thumbnail:
        abort(404)
    return _send_stored(attachments.stored_path(attachment.storage_name, thumbnail=True), "image/webp",
                        inline=True, name=attachment.filename.rsplit(".", 1)[0] + ".webp")


@bp.get("/avatars/<id:user_id>/<version>.webp")
def avatar(user_id: int, version: str):
    """A person's picture, for those who share a chat with them. The version (a new one with each
    picture) only makes a page rendered after a change ask afresh: the current picture is sent."""
    return _send_stored(avatars.avatar_path(current_user, user_id), "image/webp", inline=True, name="avatar.webp")


def _send_stored(path, mimetype: str, inline: bool, name: str):
    try:
        response = send_file(path, mimetype=mimetype, as_attachment=not inline, download_name=name,
                             conditional=True, etag=True, max_age=None)
    except FileNotFoundError:
        current_app.logger.warning("attachment.missing name=%s", path.name)
        abort(404)
    response.headers["Content-Security-Policy"] = FILE_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    # Private conversations: kept in no cache, shared or not (as the pages are).
    response.headers["Cache-Control"] = "private, no-store"
    return make_response(response)
