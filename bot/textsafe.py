"""Making untrusted text safe to show: one line for a terminal or a log, no credentials.

Pure functions, no I/O: logging (bot/logs.py), the CLI and the Patchworks client share them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["REDACTED", "Scrubber", "for_terminal", "lines_for_terminal", "mask_url"]

REDACTED = "[redacted]"

# A secret is removed whole, and so is any piece of it this long: an echo cut short, split or
# truncated by the remote side still carries enough of the key to matter.
SECRET_PIECE = 8

_NEWLINE = re.compile(r"\r\n|\r|\n")
# C0 (but tab and newlines, handled apart), DEL, C1 (incl. NEL), the Arabic letter mark, LRM/RLM,
# U+2028/U+2029 and the bidi embeddings, overrides and isolates ("Trojan Source" reordering).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

# scheme:[//]user:password@ — the password runs to the last "@" of the whitespace-free token,
# so a password holding a raw "@" or "/" is masked whole (over-masking is the safe failure).
_URL_CREDENTIALS = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*:/*[^\s:/@]*):\S*@")
# scheme://user:secret with no "@" (a malformed URL): port or password cannot be told apart, so
# anything after the colon that is not a port number is masked too.
_URL_NO_AT = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]+):(?!\d+(?:[/?#\s'\"]|$))[^\s/?#@]+")


def for_terminal(text: str) -> str:
    """One safe line: newlines shown as the two characters \\n, control and bidi characters removed."""
    return _UNSAFE.sub("", _NEWLINE.sub(r"\\n", text).replace("\t", " "))


def lines_for_terminal(text: str) -> list[str]:
    """Each line of multi-line text (a traceback) with control and bidi characters removed."""
    # splitlines() also breaks at VT, FF, FS/GS/RS, NEL and U+2028/9: each becomes a visible line.
    return [_UNSAFE.sub("", line.replace("\t", " ")) for line in text.splitlines()]


def mask_url(text: str) -> str:
    """Every `scheme://user:password@` in text (one URL or a whole message) as `scheme://user:***@`."""
    masked = _URL_CREDENTIALS.sub(r"\g<head>:***@", text)
    return _URL_NO_AT.sub(r"\g<head>:***", masked)


class Scrubber:
    """Removes secrets from text: each whole secret, and any piece of one of SECRET_PIECE or more."""

    def __init__(self, secrets: Iterable[str], *, min_length: int = 1) -> None:
        kept = {secret for secret in secrets if len(secret) >= min_length}
        # Shorter secrets have no pieces to look for; they are removed only where whole.
        self._whole = tuple(secret for secret in kept if len(secret) < SECRET_PIECE)
        self._pieces = frozenset(
            secret[start : start + SECRET_PIECE]
            for secret in kept
            if len(secret) >= SECRET_PIECE
            for start in range(len(secret) - SECRET_PIECE + 1)
        )

    def __bool__(self) -> bool:
        return bool(self._whole or self._pieces)

    def __call__(self, text: str) -> str:
        """text with every secret span replaced by one REDACTED marker."""
        spans: list[tuple[int, int]] = []
        for needle in (*self._pieces, *self._whole):
            # str.find runs in C: a few hundred needles over a few KB stays well under a millisecond.
            start = text.find(needle)
            while start != -1:
                spans.append((start, start + len(needle)))
                start = text.find(needle, start + 1)
        if not spans:
            return text
        spans.sort()
        parts: list[str] = []
        done = 0
        cover_start, cover_end = spans[0]
        for start, end in spans[1:]:
            if start <= cover_end:  # overlapping or touching: one marker for the whole run
                cover_end = max(cover_end, end)
                continue
            parts += [text[done:cover_start], REDACTED]
            done, (cover_start, cover_end) = cover_end, (start, end)
        parts += [text[done:cover_start], REDACTED, text[cover_end:]]
        return "".join(parts)
