"""Reading the Core API's answers: the JSON envelope of a final response, or the typed error its
status means, with any remote text scrubbed of the API key before it is shown."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NoReturn

import httpx

from bot.patchworks.errors import AuthFailed, BadResponse, NotFound, PatchworksError
from bot.textsafe import Scrubber

__all__ = ["Method", "ResponseReader", "message_of"]

Method = Literal["GET", "POST"]

_BODY_SNIPPET = 200
# Remote text is cut to this before the key is scrubbed from it (a bound on the scrub's work, far
# beyond what is ever shown), and to _BODY_SNIPPET only after: a cut first could leave a piece of
# the key at the edge where the scrub no longer recognises it.
_SCRUB_CAP = 4096


def message_of(response: httpx.Response) -> str | None:
    """Patchworks' (Laravel's) `{"message": ...}`, unscrubbed; None when absent."""
    try:
        body = response.json()
    except ValueError:
        return None
    message = body.get("message") if isinstance(body, dict) else None
    # Cut only to the scrub's bound here: the caller scrubs the key, then cuts to what is shown.
    return message.strip()[:_SCRUB_CAP] if isinstance(message, str) and message.strip() else None


class ResponseReader:
    """Turns final responses into payloads or typed errors; never passes the key on."""

    def __init__(self, scrubber: Scrubber) -> None:
        self._scrubber = scrubber

    def payload(
        self,
        method: Method,
        path: str,
        response: httpx.Response,
        *,
        not_found: str | None = None,
        list_data: bool = False,
    ) -> Mapping[str, Any]:
        """The JSON envelope of a final response, or the typed error its status means."""
        status = response.status_code
        if status in (401, 403):
            raise AuthFailed(f"Patchworks rejected the API key (HTTP {status}); check PATCHWORKS_API_KEY")
        if status == 404:
            raise NotFound(not_found or f"{path} not found in Patchworks")
        if 400 <= status < 500:
            message = message_of(response)
            detail = f": {self.shown(message)}" if message else ""
            raise PatchworksError(f"Patchworks refused {method} {path} (HTTP {status}){detail}")
        if not 200 <= status < 300:
            self._bad(method, path, response, f"unexpected HTTP {status}")
        try:
            payload = response.json()
        except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
            self._bad(method, path, response, "a body that is not JSON")
        if not isinstance(payload, dict):
            self._bad(method, path, response, "JSON that is not an object")
        data = payload.get("data")
        if list_data and not isinstance(data, list):
            self._bad(method, path, response, "no `data` list")
        if not list_data and not isinstance(data, dict):
            self._bad(method, path, response, "no `data` object")
        return payload

    def _bad(self, method: Method, path: str, response: httpx.Response, what: str) -> NoReturn:
        snippet = self.shown(response.text) if response.content else ""
        raise BadResponse(
            f"Patchworks answered {method} {path} (HTTP {response.status_code}) with {what}: {snippet!r}"
        )

    def shown(self, remote: str) -> str:
        """Remote text as an error message may carry it: the key scrubbed first, then cut short."""
        return self.scrub(remote[:_SCRUB_CAP])[:_BODY_SNIPPET]

    def scrub(self, text: str) -> str:
        """The text without the key or any 8-character piece of it."""
        # Servers sometimes echo request headers in error pages, whole or in part.
        return self._scrubber(text)
