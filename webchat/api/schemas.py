"""What the API takes and gives, as pydantic models: they check requests (spectree) and are the
schemas of the OpenAPI document. One model per thing, reused wherever it appears."""
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, WithJsonSchema, model_validator
from werkzeug.datastructures import FileStorage

from ..core.search import MAX_QUERY_LENGTH

# Ids as the URLs take them (routing.IdConverter: up to 18 digits).
ID_MAX = 10**18 - 1
Id = Annotated[int, Field(ge=1, le=ID_MAX)]
Cursor = Annotated[int, Field(ge=0, le=ID_MAX)]
PAGE_DEFAULT, PAGE_MAX = 50, 200
CLIENT_ID = r"^[A-Za-z0-9_-]{8,64}$"  # messaging.CLIENT_ID, said again for the document


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _no_default(schema: dict) -> None:
    schema.pop("default", None)


def absent(description: str | None = None):
    """A query or form value that may be left out. Typed without None: a query string or a form
    has no null, so the document offers none (left out, the value is None all the same)."""
    return Field(None, description=description, json_schema_extra=_no_default)


# ----- errors ----------------------------------------------------------------------------------

class ErrorBody(Model):
    code: str = Field(description="A stable identifier: unauthorized, invalid_token, read_only_token, not_found, "
                                  "invalid, bad_request, too_large, unsupported_media_type, rate_limited, "
                                  "conflict, forbidden, server_error, unavailable")
    message: str = Field(description="What went wrong, for a person to read")


class Error(Model):
    """Every error: {"error": {"code", "message"}}, never HTML."""

    error: ErrorBody


# ----- people and chats ------------------------------------------------------------------------

class UserOut(Model):
    id: int
    username: str
    display_name: str
    is_bot: bool


class MemberOut(UserOut):
    role: str = Field(description="admin or member")


class MemberList(Model):
    members: list[MemberOut]


class ChatOut(Model):
    id: int
    kind: str = Field(description="direct or group (a channel)")
    name: str | None = None
    title: str = Field(description="The name to show: a direct message's is the other person's name")
    topic: str
    public: bool
    last_message_id: int
    archived: bool


class ChatList(Model):
    chats: list[ChatOut]


# ----- messages --------------------------------------------------------------------------------

class ReactionOut(Model):
    emoji: str
    count: int
    user_ids: list[int] = Field(description="Who reacted, in the order they did")


class AttachmentOut(Model):
    id: int
    filename: str
    size: int = Field(description="Bytes")
    content_type: str
    url: str = Field(description="Where the file is downloaded with the token (GET)")


class MessageOut(Model):
    id: int = Field(description="Orders the chat's messages; history is read by it (after, before)")
    chat_id: int
    seq: int = Field(description="1, 2, 3… within the chat")
    kind: str = Field(description="user, or system (a chat event: joined, renamed…)")
    author: UserOut | None = Field(description="None for a chat event")
    text: str = Field(description="The source text as typed")
    html: str = Field(description="The text rendered and cleaned, as the pages show it")
    created_at: datetime
    edited_at: datetime | None
    deleted: bool
    thread_id: int | None = Field(description="The message whose thread this reply is in")
    reply_to_id: int | None = Field(description="The message this one quotes")
    change_seq: int = Field(description="The chat's change number of this version of the message (0: never "
                                        "changed); the socket's catch-up cursor")
    reactions: list[ReactionOut]
    attachments: list[AttachmentOut]


class MessageList(Model):
    messages: list[MessageOut] = Field(description="Oldest first")
    more: bool = Field(description="Further messages lie beyond this page in the direction asked "
                                   "(older for before or the newest page, newer for after)")


class Reacted(Model):
    added: bool = Field(description="True: the reaction was added; false: it was there and is taken back")
    message: MessageOut


class SearchHitOut(Model):
    message: MessageOut
    chat: ChatOut
    snippet: str = Field(description="HTML: the text around the matches, escaped, matches in <mark>")


class SearchResults(Model):
    results: list[SearchHitOut] = Field(description="Newest first")
    more_before: int | None = Field(description="Pass as before= for the next, older page; null: no more")


# ----- requests --------------------------------------------------------------------------------

class HistoryQuery(Model):
    after: Cursor = absent("Messages after this id, oldest first (catching up)")
    before: Cursor = absent("Messages before this id (reading back)")
    limit: int = Field(PAGE_DEFAULT, ge=1, le=PAGE_MAX)

    @model_validator(mode="after")
    def _one_direction(self):
        if self.after is not None and self.before is not None:
            raise ValueError("give after or before, not both")
        return self


class SendIn(Model):
    text: str = Field(description="The message; may use the same Markdown as the pages")
    client_id: str | None = Field(None, pattern=CLIENT_ID, description=(
        "Your id for this message (8-64 of A-Z a-z 0-9 _ -): sending again with the same id stores nothing new "
        "and answers the message it made (200 instead of 201)"))
    thread_id: Id | None = Field(None, description="Reply in this message's thread")
    broadcast: bool = Field(False, description="With thread_id: show the reply in the chat too")
    reply_to: Id | None = Field(None, description="Quote this message")


class EditIn(Model):
    text: str


class ReactIn(Model):
    emoji: str = Field(description="One emoji, e.g. 👍")


def _a_file(value: Any) -> FileStorage:
    if not isinstance(value, FileStorage):
        raise ValueError("must be a file part (Content-Disposition with a filename)")
    return value


# A file part of a multipart body: checked as such, described as binary in the document.
FilePart = Annotated[Any, PlainValidator(_a_file), WithJsonSchema({"type": "string", "format": "binary"})]


def _listed(value: Any) -> Any:
    # One file part comes alone (spectree lists only repeated fields); a file is iterable (its
    # lines), so it must not reach the list's check as it is.
    return [value] if isinstance(value, FileStorage) else value


class UploadIn(Model):
    files: Annotated[list[FilePart], BeforeValidator(_listed)] = Field(
        description="One to ten files, together at most the workspace's upload limit")
    text: str = Field("", description="A caption (may be empty)")
    client_id: Annotated[str, Field(pattern=CLIENT_ID)] = absent("As for sending a message")
    thread_id: Id = absent("Reply in this message's thread")
    reply_to: Id = absent("Quote this message")


class SearchQuery(Model):
    q: str = Field(min_length=1, max_length=MAX_QUERY_LENGTH, description="Words to find, all of them (the last may be "
                                                                 "the start of a word)")
    chat: Id = absent("Only this chat")
    before: Cursor = absent("Only messages older than this id (the next page)")
    limit: int = Field(20, ge=1, le=50)
