"""Logging set-up: one format, one line per record, no request bodies and no secrets, whatever
logged them.

Three parts, all on the one root handler so that no logger can route around them:

- `QuietLibraries` drops Slack library records below the library floor (a Bolt middleware logger
  may carry its own level copied from the root logger) and rewrites the Bolt messages that carry a
  request body, such as RequestVerification's "Invalid request signature detected (... body: …)".
- `RedactSecrets` makes the message one safe line, masks URL passwords and removes every secret,
  and every piece of a secret of 8 characters or more, from message and traceback.
- `SafeFormatter` makes each formatted record start exactly one line: the header and message are
  one line (newlines shown as \\n), and traceback lines, which stay multi-line to stay readable,
  are each prefixed with "  | " so a line forged inside an exception message cannot pass as a record.
  With LOG_FORMAT=json, `JsonFormatter` writes one JSON object per line instead (same filters).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal, TextIO

import slack_bolt
import slack_sdk
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

from bot.textsafe import Scrubber, for_terminal, lines_for_terminal, mask_url

__all__ = [
    "JsonFormatter",
    "LogFormat",
    "QuietLibraries",
    "RedactSecrets",
    "SafeFormatter",
    "bolt_logger",
    "setup_logging",
]

LogFormat = Literal["text", "json"]

LIBRARIES = ("slack_bolt", "slack_sdk")
# Below this, Slack library records are dropped: at INFO and DEBUG they log request and
# response bodies (and would drown the bot's own lines).
LIBRARY_FLOOR = logging.WARNING
# Other libraries' chatter at INFO (every HTTP request) would drown the bot's own lines too.
_NOISY = ("httpx", "httpcore", "apscheduler", "uvicorn.access", "alembic")
# Bolt names the loggers it builds from the app's file name ("app.py:listener"), outside its own
# namespace: the source file of a record is what reliably says Bolt or the SDK logged it.
_LIBRARY_DIRS = tuple(os.path.dirname(module.__file__ or "") + os.sep for module in (slack_bolt, slack_sdk))
_BOLT_LOGGER = "slack_bolt.AsyncApp"  # the name Bolt itself gives the app's logger

_TRACEBACK_PREFIX = "  | "
_BODY_NOT_LOGGED = "[request body not logged]"
# Bolt messages that embed a request body (slack_bolt/logger/messages.py, RequestVerification):
# everything from the opening that introduces the body is replaced.
_BODY_OPENINGS = re.compile(
    r"(?P<keep>Invalid request signature detected|Unhandled request|"
    r"A global middleware \(\w+\) skipped calling either `next\(\)` or `next_\(\)`)\b.*",
    re.DOTALL,
)
# Any other "body: …", "json_body=…", "request body: …" in a library record (the SDK logs
# request and response bodies at DEBUG): cut there.
_BODY_FIELD = re.compile(r"(?i)(?:body|payload)\w*\s*[:=(].*", re.DOTALL)


# Library warnings about a choice syncbot made on purpose, said at every start: noise in the log.
_EXPECTED_WARNINGS = frozenset(
    {
        # Bolt reads SLACK_BOT_TOKEN itself as well; syncbot hands it a client built with that token.
        warning_client_prioritized_and_token_skipped(),
    }
)


def _library_floor() -> int:
    return max(LIBRARY_FLOOR, logging.getLogger().getEffectiveLevel())


def _is_library(record: logging.LogRecord) -> bool:
    return record.name.split(".", 1)[0] in LIBRARIES or record.pathname.startswith(_LIBRARY_DIRS)


class QuietLibraries(logging.Filter):
    """Drop Slack library records below the floor; keep request bodies out of the rest."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _is_library(record):
            return True
        if record.levelno < _library_floor():
            return False
        message = record.getMessage()
        if message in _EXPECTED_WARNINGS:
            return False
        opening = _BODY_OPENINGS.match(message)
        if opening:
            shown = f"{opening.group('keep')} {_BODY_NOT_LOGGED}"
        else:
            shown = _BODY_FIELD.sub(_BODY_NOT_LOGGED, message)
        if shown != message:
            record.msg, record.args = shown, None
        return True


class RedactSecrets(logging.Filter):
    """Make the message one safe line and remove URL passwords and known secrets from the record."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Under 6 characters a "secret" would mangle ordinary words; none of ours is that short.
        self._scrub = Scrubber(secrets, min_length=6)

    def _clean(self, text: str) -> str:
        return self._scrub(mask_url(text)) if self._scrub else mask_url(text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        # Control characters go first: an ESC or newline inside a secret must not hide it from
        # the scrub and then vanish, re-forming the secret, when the line is formatted.
        cleaned = self._clean(for_terminal(message))
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_text is None and record.exc_info[1] is not None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean("\n".join(lines_for_terminal(record.exc_text)))
        if record.stack_info:
            record.stack_info = self._clean("\n".join(lines_for_terminal(record.stack_info)))
        return True


class SafeFormatter(logging.Formatter):
    """Each record is one header line; traceback lines follow, each prefixed so none looks like one."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        # The whole line, not just the message: a logger name or any field could carry a newline.
        text = for_terminal(self.formatMessage(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        for block in (record.exc_text, record.stack_info and self.formatStack(record.stack_info)):
            if block:
                text += "".join(f"\n{_TRACEBACK_PREFIX}{line}" for line in lines_for_terminal(block))
        return text


class JsonFormatter(logging.Formatter):
    """Each record is one JSON object on one line: time, level, logger, message and, when there is
    one, exc_info (the traceback text) and stack_info. Newlines inside values are JSON escapes, so a
    forged line cannot pass as a record; control and bidi characters are removed as in text logs."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": for_terminal(record.levelname),
            "logger": for_terminal(record.name),
            "message": for_terminal(record.message),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_info"] = "\n".join(lines_for_terminal(record.exc_text))
        if record.stack_info:
            entry["stack_info"] = "\n".join(lines_for_terminal(self.formatStack(record.stack_info)))
        return json.dumps(entry, ensure_ascii=False)


def bolt_logger() -> logging.Logger:
    """The logger to pass as `AsyncApp(logger=...)`: Bolt copies its level to every logger it builds."""
    logger = logging.getLogger(_BOLT_LOGGER)
    logger.setLevel(_library_floor())
    return logger


def _set_library_levels() -> None:
    floor = _library_floor()
    names = [*LIBRARIES, *_NOISY]
    # Loggers created earlier (Bolt builds middleware loggers with their own level) are set too.
    names += [name for name in logging.root.manager.loggerDict if name.split(".", 1)[0] in LIBRARIES]
    for name in names:
        logger = logging.getLogger(name)
        # The parents decide; children inherit (QuietLibraries catches any set again later).
        logger.setLevel(floor if name in (*LIBRARIES, *_NOISY, _BOLT_LOGGER) else logging.NOTSET)


def setup_logging(
    level: str, secrets: Iterable[str] = (), *, stream: TextIO | None = None, fmt: LogFormat = "text"
) -> None:
    """Log to stderr (or `stream`) at `level`: one line per record (`fmt` "json": one JSON object
    per line), no bodies, no secrets."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(QuietLibraries())
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    _set_library_levels()
