"""Typed Patchworks errors. Every message is safe to show an operator: no keys, no bodies.

PatchworksError
├── AuthFailed       401/403: the API key is wrong, revoked or lacks permission
├── NotFound         404: the run or flow does not exist (or no longer: logs live 7 days)
├── ResyncRefused    422 on retry: Patchworks will not retry this run (its message says why)
├── RateLimited      429 after the retries ran out
├── Unavailable      5xx, timeouts, connection failures after the retries ran out
└── BadResponse      a response that is not the JSON we can read
"""

from __future__ import annotations

__all__ = [
    "AuthFailed",
    "BadResponse",
    "NotFound",
    "PatchworksError",
    "RateLimited",
    "ResyncRefused",
    "Unavailable",
]


class PatchworksError(Exception):
    """Base of every error the Patchworks adapter raises."""


class AuthFailed(PatchworksError):
    """Patchworks refused the API key."""


class NotFound(PatchworksError):
    """The requested run or flow does not exist."""


class ResyncRefused(PatchworksError):
    """Patchworks refused to retry a run (HTTP 422); the message is Patchworks' own reason."""


class RateLimited(PatchworksError):
    """Patchworks kept answering 429."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(PatchworksError):
    """Patchworks could not be reached or kept failing."""


class BadResponse(PatchworksError):
    """Patchworks answered with something we cannot read."""
