"""What users are told when something fails: a code and its fixed, translatable text.

Exception text never reaches a user: it goes to the log, and to staff in the admin
(`Generation.error_detail`). Every app's generations and sockets use these codes.
"""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

ERROR_TEXTS: dict[str, Promise] = {
    # A generation that did not finish.
    "worker_lost": _("The assistant stopped answering. Please try again."),
    "stream_lost": _("The answer was interrupted by a server restart. Please ask again."),
    "backend_unavailable": _(
        "The assistant's model is not available right now. Try again shortly."
    ),
    "backend_busy": _("The assistant is overloaded right now. Please try again shortly."),
    "invalid_request": _(
        "This conversation is too long for the assistant. Please start a new one."
    ),
    "failed": _("The assistant failed to answer. Please try again."),
    # The socket.
    "service_unavailable": _("The service is restarting. Reconnecting…"),
    "frame_too_large": _("That message is too large to send."),
}


def error_text(code: str) -> Promise:
    """The text users see for `code`, in the active language (unknown codes: a generic one)."""
    return ERROR_TEXTS.get(code, ERROR_TEXTS["failed"])
