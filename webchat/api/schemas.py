"""What the API takes and gives, as pydantic models: they check requests (spectree) and are the
schemas of the OpenAPI document. One model per thing, reused wherever it appears."""
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(Model):
    code: str = Field(description="A stable identifier, e.g. not_found, invalid, rate_limited")
    message: str = Field(description="What went wrong, for a person to read")


class Error(Model):
    error: ErrorBody


class UserOut(Model):
    id: int
    username: str
    display_name: str
    is_bot: bool


class ChatOut(Model):
    id: int
    kind: str = Field(description="direct, group or channel")
    name: str | None = None
    title: str = Field(description="The name to show: a direct message's is the other person's name")
    last_message_id: int
    archived: bool


class ChatList(Model):
    chats: list[ChatOut]


class Timestamped(Model):
    created_at: datetime
