"""Files: sending them as a message (core/attachments.py, as the pages' upload) and fetching them.

A fetched file always comes as a download of application/octet-stream with nosniff and a
sandboxing policy (as pages/attachments.py sends a non-image): the API's JSON gives its real type.
"""
from flask import current_app, send_file

from ..core import attachments, service
from ..core.errors import not_found
from . import BINARY, WRITE_ERRORS, bp, caller, responses, spec
from .schemas import MessageOut, UploadIn
from .serialize import message_out


@bp.post("/chats/<id:chat_id>/files")
@spec.validate(resp=responses(*WRITE_ERRORS, HTTP_201=(MessageOut, "Sent"),
                              HTTP_200=(MessageOut, "Sent before with this client_id: the message it made")),
               tags=["files"])
def upload_file(chat_id: int, form: UploadIn):
    """Send files (and a caption) as one message, multipart/form-data; every open page shows it."""
    membership = service.membership_or_404(chat_id, caller())
    result = attachments.send_with_files(membership, form.text, form.client_id, form.files,
                                         reply_to_id=form.reply_to, thread_id=form.thread_id)
    return message_out(result.message), 201 if result.created else 200


BINARY["download_file"] = {"200": attachments.DOWNLOAD_TYPE}


@bp.get("/chats/<id:chat_id>/files/<id:file_id>")
@spec.validate(resp=responses(404, HTTP_200=(None, "The file's bytes")), operation_id="download_file",
               tags=["files"])
def download_file(chat_id: int, file_id: int):
    """A file sent in the chat, as uploaded."""
    user = caller()
    service.membership_or_404(chat_id, user)  # members only: no preview of a public channel here
    attachment = attachments.attachment_or_404(chat_id, user, file_id)
    try:
        response = send_file(attachments.stored_path(attachment.storage_name), mimetype=attachments.DOWNLOAD_TYPE,
                             as_attachment=True, download_name=attachment.filename, max_age=None)
    except FileNotFoundError:
        current_app.logger.warning("attachment.missing id=%d", attachment.id)
        raise not_found() from None
    # spectree reads the body to check the response (it checks nothing of a file's): read, not streamed.
    response.direct_passthrough = False
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
