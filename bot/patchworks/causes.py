"""Causes: failures grouped by the flow's systems plus a normalised error signature.

`signature()` turns one error line into text that is the same for every failure of one cause:
whatever names a particular record becomes a placeholder, whatever names the problem stays.

Placeholders (the whole set):

- `{url}` http(s)/ftp/sftp URLs, query string included; `{email}` e-mail addresses;
  `{uuid}` UUIDs; `{ts}` dates and times (ISO 8601, d/m/y, RFC 2822, "1 May 2024", hh:mm:ss).
- `#{n}` order numbers (`#1045`, `#1045-R1`); `{sku}` SKUs: an upper-case hyphenated token
  (`TSHIRT-BLK-M`) or the token after "SKU", "item code", "variant", "barcode" or "handle";
  `{ref}` document numbers: letters, hyphen, digits (`SO-10023`, `CUST-20001`);
  `{id}` tokens of 8+ letters and digits with both (hex and random ids); `{n}` any other number.
  A comma-separated run of one placeholder becomes one (lists of ids vary in length).
- Quoted text (`'…'` or `"…"`) becomes `'{value}'` / `"{value}"`, except: object keys (a quoted
  string after `{` or `,` and before `:`); in an object, values under code-like keys (`code`,
  `*code`, `field`, `fields`, `type`, `status`) and values that read as prose (under `message`,
  `title`, `errors`… or containing a space), which keep their words and are normalised inside;
  an identifier quoted after "field", "column", "property", "attribute", "parameter" or "key"
  (a field name says what to fix); and a quoted placeholder (`"{url}"`).

Kept as they are, because they tell causes apart: error codes (`INVENTORY_CLAIM_FAILED`,
`SSS_REQUEST_LIMIT_EXCEEDED`, a Brightpearl `CMNC-404` that leads the line), system names, an HTTP
status (three digits before a reason phrase such as `429 Too Many Requests`), and a number of at
most three digits after "HTTP", "status", "error" or "error code" (`HTTP 503`, `"status":429`,
`cURL error 28`: 6, 7 and 28 are different network failures). Whitespace is collapsed and the
result is at most SIGNATURE_LIMIT characters. Pure, deterministic, no I/O.

`classify()` names the kind of a cause from one rule per concept: "already processed" is the
resync rule of models.py, auth and unreachable are connector health's rule (health.py), and
rate limits and data errors are decided here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, field_validator

from bot.patchworks.health import classify as health_of
from bot.patchworks.models import Health, SyncEntry, already_processed

__all__ = [
    "SIGNATURE_LIMIT",
    "CauseKey",
    "CauseKind",
    "cause_id",
    "cause_of",
    "classify",
    "next_step",
    "signature",
]

SIGNATURE_LIMIT = 200
# Only the head of a huge line can reach the bounded signature; the cap also bounds regex work.
_INPUT_LIMIT = 1000

# Placeholders are inserted as private-use sentinels so that later rules cannot rewrite the
# text kept from earlier ones; the input loses any private-use characters of its own first.
_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")
_SENTINEL = re.compile("\ue000(.)\ue001")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+|\s+")

_URL = re.compile(r"\b(?:https?|s?ftp)://[^\s\"'<>]+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\b")
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b")
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
_CLOCK = r"[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?(?:\s?[AaPp][Mm])?"
_ZONE = r"(?:\s?(?:Z|UTC|GMT)|[+-][0-9]{2}:?[0-9]{2})?"
_TIMESTAMPS = (
    re.compile(rf"\b[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}(?:[T ]{_CLOCK})?{_ZONE}"),
    re.compile(rf"\b[0-9]{{1,2}}/[0-9]{{1,2}}/[0-9]{{2,4}}(?:,?\s{_CLOCK})?{_ZONE}"),
    re.compile(
        rf"\b(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s+)?(?:[0-9]{{1,2}}\s+{_MONTH}|{_MONTH}\s+"
        rf"[0-9]{{1,2}},?)\s+[0-9]{{4}}(?:\s+{_CLOCK})?{_ZONE}"
    ),
    re.compile(rf"\b[0-9]{{1,2}}:[0-9]{{2}}:[0-9]{{2}}(?:[.,][0-9]+)?{_ZONE}"),
)
# Replaced first, as a whole: their insides (digits, hyphens, quotes) are not for later rules.
_PLACED = (
    (_URL, "{url}"),
    (_EMAIL, "{email}"),
    (_UUID, "{uuid}"),
    *((pattern, "{ts}") for pattern in _TIMESTAMPS),
)

_REASONS = (
    "OK|Multi-Status|Bad Request|Unauthori[sz]ed|Payment Required|Forbidden|Not Found|"
    "Method Not Allowed|Not Acceptable|Request Time-?out|Conflict|Precondition Failed|"
    "Payload Too Large|Request Entity Too Large|URI Too Long|Unsupported Media Type|"
    "Unprocessable (?:Entity|Content)|Too Many Requests|Internal Server Error|Not Implemented|"
    "Bad Gateway|Service Unavailable|Gateway Time-?out"
)
# Each names the span to keep as the group "keep"; the rest of a match is only context.
_KEEP = (
    re.compile(rf"(?<![0-9.,#])(?P<keep>[1-5][0-9]{{2}})\s*(?:[-:\u2013]\s*)?(?:{_REASONS})\b"),
    re.compile(
        r"(?i:\b(?:HTTP(?:/[0-9](?:\.[0-9])?)?|status(?:[ _]?code)?|response[ _]code|"
        r"error(?:[ _]?code)?)\"?\s*[:=#]?\s*)(?P<keep>[0-9]{1,3})\b(?![.,]?[0-9])"
        r"|\"code\"\s*:\s*(?P<keep2>[0-9]{1,3})\b"
    ),
    re.compile(r"(?P<keep>\bHTTP/[0-9](?:\.[0-9])?)"),
    re.compile(r"^(?P<keep>[A-Z]{4}-[0-9]{3})\b"),
    re.compile(r"(?P<keep>\b(?:UTF-(?:8|16)|ISO[- ]8601)\b)"),
)

_QUOTED = re.compile(r"\"(?:[^\"\\]|\\.)*\"|(?<!\w)'[^'\n]*'(?!\w)")
_KEY_BEFORE = re.compile(r"[{,]\s*$")
_KEY_AFTER = re.compile(r"^\s*:")
_FIELD_WORD = re.compile(r"(?i:\b(?:field|column|property|attribute|parameter|key)s?)\s*$")
_IDENTIFIER = re.compile(r"[A-Za-z_][\w.\[\]]*")
_PROSE_KEYS = frozenset(
    {"message", "messages", "msg", "title", "detail", "details", "description", "error", "errors"}
    | {"error_description", "base", "reason"}
)
_CODE_KEYS = frozenset({"field", "fields", "type", "status"})

_ORDER = re.compile(r"#[A-Za-z]*[0-9][\w-]*")
_SKU_WORD = re.compile(r"(?i:\b(sku|item code|variant|barcode|handle))(s?\s*[:=#]?\s*)(\S+)")
_CODE_LIKE = re.compile(r"[0-9_-]|^[A-Z]{2,}$")
_HYPHENATED = re.compile(r"(?<![\w-])(?=[A-Z0-9-]*[A-Z])[A-Z0-9]+(?:-[A-Z0-9]+)+(?![\w-])")
_DOCUMENT_NUMBER = re.compile(r"[A-Z]{1,6}(?:-[0-9]+)+")
_MIXED_ID = re.compile(r"(?<![\w-])(?=[A-Za-z0-9_]*[0-9])(?=[A-Za-z0-9_]*[A-Za-z])[A-Za-z0-9_]{8,}(?![\w-])")
_NUMBER = re.compile(r"[0-9]+(?:[.,][0-9]+)*")
_LIST = re.compile(r"([\"']?)\{([a-z]+)\}\1(?:\s*,\s*\1\{\2\}\1)+")


def signature(text: str) -> str:
    """The error line with record-specific parts replaced by placeholders (see the module doc)."""
    if len(text) > _INPUT_LIMIT:
        # Cut at a space: a token cut in half would differ from failure to failure.
        text = text[:_INPUT_LIMIT].rsplit(None, 1)[0]
    text = _CONTROL.sub(" ", _PRIVATE_USE.sub("", text)).strip()
    kept: list[str] = []

    def hide(value: str) -> str:
        kept.append(value)
        return f"\ue000{chr(0xE100 + len(kept) - 1)}\ue001"

    for pattern, placeholder in _PLACED:
        text = pattern.sub(hide(placeholder), text)
    for pattern in _KEEP:
        text = pattern.sub(lambda m: _hide_group(m, hide), text)
    text = _quoted_and_prose(text)
    text = _SENTINEL.sub(lambda m: kept[ord(m.group(1)) - 0xE100], text)
    text = _CONTROL.sub(" ", _LIST.sub(r"\1{\2}\1", text)).strip()
    if len(text) <= SIGNATURE_LIMIT:
        return text
    cut = text[: SIGNATURE_LIMIT - 1]
    # Never leave half a placeholder: "{sk" would make two causes of one.
    if cut.rfind("{") > cut.rfind("}"):
        cut = cut[: cut.rfind("{")]
    return cut.rstrip() + "\u2026"


def _hide_group(match: re.Match[str], hide: Callable[[str], str]) -> str:
    group = "keep" if match.group("keep") is not None else "keep2"
    start, end = match.start(group) - match.start(), match.end(group) - match.start()
    whole = match.group(0)
    return whole[:start] + hide(whole[start:end]) + whole[end:]


def _quoted_and_prose(text: str) -> str:
    """Quoted strings by the rules of the module doc; everything between them as prose."""
    pieces: list[str] = []
    key: str | None = None  # the last object key seen: set once the line carries JSON
    position = 0
    for match in _QUOTED.finditer(text):
        pieces.append(_prose(text[position : match.start()]))
        quote, content = match.group(0)[0], match.group(0)[1:-1]
        # The few characters around the quote decide; slicing only those keeps this linear.
        before, after = text[max(0, match.start() - 40) : match.start()], text[match.end() : match.end() + 5]
        if _KEY_BEFORE.search(before) and _KEY_AFTER.match(after):
            key = content.rpartition(":")[2].lower()
            pieces.append(quote + _prose(content) + quote)
        elif _is_placeholder(content):
            pieces.append(match.group(0))
        elif key is not None and (key in _CODE_KEYS or key.endswith("code")):
            pieces.append(quote + ("{n}" if content.isdigit() else content) + quote)
        elif key is not None and (key in _PROSE_KEYS or " " in content.strip()):
            pieces.append(quote + _quoted_and_prose(content) + quote)
        elif _FIELD_WORD.search(before) and _IDENTIFIER.fullmatch(content):
            pieces.append(quote + _prose(content) + quote)
        else:
            pieces.append(quote + "{value}" + quote)
        position = match.end()
    pieces.append(_prose(text[position:]))
    return "".join(pieces)


def _is_placeholder(content: str) -> bool:
    rest = _SENTINEL.sub("", content)
    return content != rest and not rest.strip()


def _prose(text: str) -> str:
    """Unquoted text: order numbers, SKUs, document numbers, ids and numbers."""
    text = _ORDER.sub("#{n}", text)
    text = _SKU_WORD.sub(_sku_after_word, text)
    text = _HYPHENATED.sub(lambda m: "{ref}" if _DOCUMENT_NUMBER.fullmatch(m.group(0)) else "{sku}", text)
    text = _MIXED_ID.sub("{id}", text)
    return _NUMBER.sub("{n}", text)


def _sku_after_word(match: re.Match[str]) -> str:
    word, gap, token = match.groups()
    core = token.rstrip(".,;:!?)]}'\"")
    if not core or core.startswith(("{", "'", '"', "\ue000")) or not _CODE_LIKE.search(core):
        return match.group(0)
    return f"{word}{gap}{{sku}}{token[len(core) :]}"


class CauseKey(BaseModel):
    """What makes failures one cause: the systems involved (sorted) and the error signature."""

    model_config = ConfigDict(frozen=True)

    systems: tuple[str, ...]
    signature: str

    @field_validator("systems")
    @classmethod
    def _sorted(cls, systems: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(systems)))

    @property
    def id(self) -> str:
        """The cause's stable short id (see cause_id)."""
        return cause_id(self)

    @property
    def kind(self) -> CauseKind:
        """What kind of problem the signature describes."""
        return classify(self.signature)


def cause_of(entry: SyncEntry) -> CauseKey:
    """The cause of a failed entry: its systems and the signature of its first error line."""
    # error_summary is the first ERROR line, else the first line, else the run's summary.
    return CauseKey(systems=entry.systems, signature=signature(entry.error_summary))


def cause_id(key: CauseKey) -> str:
    """16 hex digits naming the cause in button values and database rows; never changes."""
    material = "\x1f".join(key.systems) + "\x1e" + key.signature
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]


class CauseKind(StrEnum):
    """What kind of problem a cause is, which decides the suggested next step."""

    AUTH = "auth"
    RATE_LIMITED = "rate_limited"
    UNREACHABLE = "unreachable"
    DATA = "data"
    DUPLICATE = "duplicate"
    UNKNOWN = "unknown"


_NEXT_STEPS = {
    CauseKind.AUTH: "Re-authorise the connector, then resync.",
    CauseKind.RATE_LIMITED: "The system is rate limiting: wait a few minutes, then resync.",
    CauseKind.UNREACHABLE: "The system is unreachable: check it before resyncing.",
    CauseKind.DATA: "Fix the data, then resync.",
    CauseKind.DUPLICATE: "Already processed: nothing to resync.",
    CauseKind.UNKNOWN: "Read the error details and fix the cause, then resync.",
}

# Checked before health's "unreachable": Brightpearl answers its rate limit with 503 Too Busy,
# and NetSuite its concurrency limit with 400, yet both only need waiting out.
_RATE_LIMITED = re.compile(
    r"\b429\b|too many requests|rate.?limit|throttl|calls per second|request limit|too busy|"
    r"concurren(?:cy|t) (?:governance )?(?:limit|request)|SSS_REQUEST_LIMIT_EXCEEDED|"
    r"Exceeded\w*Limit\w*|WS_CONCUR_SESSION_DISALLOWED",
    re.IGNORECASE,
)
_DATA = re.compile(
    r"\b(?:400|404|409|422)\b|not found|cannot find|could not be (?:claimed|found|created)|"
    r"does not exist|\binvalid\b|_INVALID\b|\bINVALID_|required|_MISSING\b|\bmissing\b|"
    r"please enter value|no mapping|mapping table|validation|userErrors|USER_ERROR|"
    r"must (?:be|supply|not)|unknown (?:item|sku|product|field|variant)",
    re.IGNORECASE,
)


def classify(subject: str | SyncEntry) -> CauseKind:
    """The kind of an error line or signature (a signature keeps what this needs), or an entry's."""
    if isinstance(subject, SyncEntry):
        return classify(cause_of(subject).signature)
    if already_processed(subject):
        return CauseKind.DUPLICATE
    health = health_of(subject)
    if health is Health.AUTH_FAILED:
        return CauseKind.AUTH
    if _RATE_LIMITED.search(subject):
        return CauseKind.RATE_LIMITED
    if health is Health.UNREACHABLE:
        return CauseKind.UNREACHABLE
    if _DATA.search(subject):
        return CauseKind.DATA
    return CauseKind.UNKNOWN


def next_step(kind: CauseKind) -> str:
    """The suggested next step for a kind of cause, in the seed's words."""
    return _NEXT_STEPS[kind]
