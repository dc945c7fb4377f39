"""The core's one error: a refused operation, in words meant for the person who asked.

Every front door turns it into its own answer (pages/views.py: a fragment or a page; the socket:
an error frame; an API: JSON); the core never chooses.
"""

NOT_FOUND = "There is nothing here, or you don't have access to it."


class ChatError(Exception):
    """A refused request; .message is shown to the user as it is, .status is the HTTP status,
    .retry_after (seconds) when the refusal ends by itself."""

    def __init__(self, message: str, status: int = 422, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


def not_found() -> ChatError:
    """No such chat or message, or not one of the asker's: the same answer, so neither is told apart."""
    return ChatError(NOT_FOUND, 404)
