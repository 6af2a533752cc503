"""Every error the workbench raises, rooted in one base class (the httpx habit).

Messages name the field or file and say what to do. None of them ever carries the API key:
request bodies are never quoted into an error.
"""

from __future__ import annotations

# The longest error reason kept anywhere (a catalogue row's `error`, a sweep's stop reason):
# enough to say what went wrong, too short to carry a whole reply body.
ERROR_CHARS = 300


class WorkbenchError(Exception):
    """Root of all workbench errors; catch this to show a clean message instead of a traceback."""


class InputError(WorkbenchError):
    """User input (a face photo, a sweep file, a CLI option) is not acceptable; nothing was stored."""


class ConfigError(WorkbenchError):
    """The backend configuration is incomplete or inconsistent."""


class CatalogueError(WorkbenchError):
    """The catalogue could not be read or written consistently."""


# --- Errors of the Headshot API boundary -------------------------------------------------


class ApiError(WorkbenchError):
    """A request to the Headshot API did not give images.

    `retryable` says whether the same request may succeed later; `stops_sweep` says whether
    every further request is pointless (bad key, no credits).
    """

    retryable: bool = False
    stops_sweep: bool = False

    def __init__(
        self, message: str, *, status: int | None = None, attempts: int = 1, latency_ms: float = 0.0
    ):
        super().__init__(message)
        self.status = status
        self.attempts = attempts
        self.latency_ms = latency_ms

    @property
    def reason(self) -> str:
        return str(self)


class InvalidRequest(ApiError):
    """The request breaks the contract (caught before sending, or a 400/422 reply). Not retried."""


class AuthError(ApiError):
    """401/403: the API key was refused. Not retried; a sweep stops."""

    stops_sweep = True


class OutOfCredits(ApiError):
    """402: the account has no credits left. Not retried; a sweep stops."""

    stops_sweep = True


class RateLimited(ApiError):
    """429: too many requests. Retried after the server's Retry-After."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class TransientError(ApiError):
    """5xx, a timeout or a dropped connection. Retried with exponential backoff and jitter.

    `connection` is True when the API could not even be connected to (refused, unreachable,
    connect timeout): a run of those trips a sweep's circuit breaker. A slow or dropped reply
    is not one: the API is there.
    """

    retryable = True

    def __init__(self, message: str, *, connection: bool = False, **kwargs):
        super().__init__(message, **kwargs)
        self.connection = connection


class MalformedReply(ApiError):
    """A 200 reply that is not what the contract promises (count, data URI, base64, JPEG, size).

    Never stored as a result and not retried by the client: the provider may have charged for
    it, so spending again is the sweep's decision (a later run retries failed cells).
    """
