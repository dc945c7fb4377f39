"""Errors a chat operation reports to the person who asked, in words meant for them."""


class ChatError(Exception):
    """A refused request; .message is shown to the user as it is, .status is the HTTP status."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
