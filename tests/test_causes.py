"""Causes: error signatures, cause keys and ids, and what kind of problem a cause is."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from random import Random
from typing import NamedTuple

import pytest

from bot.patchworks.causes import (
    SIGNATURE_LIMIT,
    CauseKey,
    CauseKind,
    cause_id,
    cause_of,
    classify,
    next_step,
    signature,
)
from bot.patchworks.health import classify as health_of
from bot.patchworks.models import ErrorLine, Flow, Health, RunStatus, SyncEntry
from syncbot_sandbox.simulator.catalogue import MAPPED_FIELDS, SKUS
from syncbot_sandbox.simulator.generate import build_flows, kinds_by_flow, reference

# Slots a shape's template takes, each filled with a fresh record-specific value per variant.
_WORDS = ("TSHIRT", "HOODIE", "MUG", "CAP", "SOCK", "TOTE", "JACKET", "DEMOTEST")
_COLOURS = ("BLK", "WHT", "GRY", "NVY", "RED", "SS", "OLV")
_SIZES = ("M", "L", "XL", "OS", "11OZ", "39-42", "YELLOW")
_VALUES = ("Express 24", "Next Day", "Red", "VIP", "Standard Shipping", "42", "n/a", "Click & Collect")


def _sku(rng: Random) -> str:
    if rng.random() < 0.3:
        return rng.choice(SKUS)
    return f"{rng.choice(_WORDS)}-{rng.choice(_COLOURS)}-{rng.choice(_SIZES)}"


def _hex(rng: Random) -> str:
    # Starts with a letter and a digit so it is never all digits or all letters.
    return f"{rng.choice('abcdef')}{rng.randint(0, 9)}{rng.getrandbits(88):022x}"


def _timestamp(rng: Random) -> datetime:
    return datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 400 * 86_400))


_FILL: dict[str, Callable[[Random], str]] = {
    "order": lambda rng: f"#{rng.randint(1001, 99_999)}",
    "refund": lambda rng: f"#{rng.randint(1001, 4999)}-R{rng.randint(1, 3)}",
    "so": lambda rng: f"SO-{rng.randint(10_001, 99_999)}",
    "cust": lambda rng: f"CUST-{rng.randint(20_001, 29_999)}",
    "sku": _sku,
    "n": lambda rng: str(rng.randint(0, 10 ** rng.randint(1, 10))),
    "ns": lambda rng: ", ".join(str(rng.randint(1, 99_999)) for _ in range(rng.randint(1, 5))),
    "hex": _hex,
    "uuid": lambda rng: str(uuid.UUID(int=rng.getrandbits(128))),
    "email": lambda rng: (
        f"{rng.choice(('ana', 'bob.smith', 'ops+alerts'))}{rng.randint(1, 999)}@"
        f"{rng.choice(('example.com', 'shop.co.uk', 'mail.example.org'))}"
    ),
    "url": lambda rng: (
        f"https://{rng.choice(('acme', 'north-wind'))}.myshopify.com/admin/api/2024-01/"
        f"orders/{rng.randint(10**9, 10**10)}.json?fields=id,name&page_info={_hex(rng)}"
    ),
    "ts": lambda rng: _timestamp(rng).strftime("%Y-%m-%dT%H:%M:%S") + rng.choice(("Z", "+01:00", ".123Z")),
    "date": lambda rng: f"{_timestamp(rng).month}/{_timestamp(rng).day}/{_timestamp(rng).year}",
    "rfc": lambda rng: _timestamp(rng).strftime("%a, %d %b %Y %H:%M:%S GMT"),
    "value": lambda rng: rng.choice(_VALUES),
}
_SLOT = re.compile(r"«(\w+)»")


def variant(template: str, rng: Random) -> str:
    """The template with every «slot» filled by a random value of its kind."""
    return _SLOT.sub(lambda match: _FILL[match.group(1)](rng), template)


class Shape(NamedTuple):
    """A real error shape: its template, its expected signature and its kind."""

    name: str
    template: str
    expected: str
    kind: CauseKind


_SHOPIFY_429 = (
    '429 Too Many Requests: {"errors":"Exceeded 2 calls per second for api client. '
    'Reduce request rates to resume uninterrupted service."}'
)
_NETSUITE_LIMIT = (
    "400 Bad Request: SSS_REQUEST_LIMIT_EXCEEDED - Request limit exceeded. "
    "The concurrency governance limit for this account was reached."
)

SHAPES = (
    # Shopify (reference §7.3, simulator catalogue)
    Shape(
        "shopify-429",
        _SHOPIFY_429,
        _SHOPIFY_429.replace("Exceeded 2", "Exceeded {n}"),
        CauseKind.RATE_LIMITED,
    ),
    Shape(
        "shopify-graphql-throttled",
        '{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED","cost":«n»}}]}',
        '{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED","cost":{n}}}]}',
        CauseKind.RATE_LIMITED,
    ),
    Shape(
        "shopify-401-bad-token",
        '401 Unauthorized: {"errors":"[API] Invalid API key or access token '
        '(unrecognized login or wrong password)"}',
        '401 Unauthorized: {"errors":"[API] Invalid API key or access token '
        '(unrecognized login or wrong password)"}',
        CauseKind.AUTH,
    ),
    Shape(
        "catalogue-401-expired",
        "401 Unauthorized \u2013 invalid or expired access token",
        "401 Unauthorized \u2013 invalid or expired access token",
        CauseKind.AUTH,
    ),
    Shape(
        "shopify-403-scope",
        '403 Forbidden: {"errors":"[API] This action requires merchant approval for read_orders scope."}',
        '403 Forbidden: {"errors":"[API] This action requires merchant approval for read_orders scope."}',
        CauseKind.AUTH,
    ),
    Shape(
        "shopify-inventory-claim",
        'userErrors: [{"field":["inventoryItemId"],"message":"Inventory could not be claimed for «sku»",'
        '"code":"INVENTORY_CLAIM_FAILED"}]',
        'userErrors: [{"field":["inventoryItemId"],"message":"Inventory could not be claimed for {sku}",'
        '"code":"INVENTORY_CLAIM_FAILED"}]',
        CauseKind.DATA,
    ),
    Shape(
        "issue-example-claim",
        "Order «order»: «sku» could not be claimed: INVENTORY_CLAIM_FAILED",
        "Order #{n}: {sku} could not be claimed: INVENTORY_CLAIM_FAILED",
        CauseKind.DATA,
    ),
    Shape(
        "shopify-processed-at",
        'userErrors: [{"field":["processedAt"],"message":"Processed at is invalid",'
        '"code":"PROCESSED_AT_INVALID"}]',
        'userErrors: [{"field":["processedAt"],"message":"Processed at is invalid",'
        '"code":"PROCESSED_AT_INVALID"}]',
        CauseKind.DATA,
    ),
    Shape(
        "shopify-field-path-indexes",
        'userErrors: [{"field":["lineItems","«n»","quantity"],"message":"Quantity must be greater than 0",'
        '"code":"INVALID"}]',
        'userErrors: [{"field":["lineItems","{n}","quantity"],"message":"Quantity must be greater than {n}",'
        '"code":"INVALID"}]',
        CauseKind.DATA,
    ),
    Shape(
        "shopify-fulfilment-exists",
        '422 Unprocessable Entity: {"errors":{"base":["Fulfillment for order «order» already exists"]}}',
        '422 Unprocessable Entity: {"errors":{"base":["Fulfillment for order #{n} already exists"]}}',
        CauseKind.DUPLICATE,
    ),
    Shape(
        "shopify-dict-repr",
        "Shopify customer create failed: {'errors': {'email': ['has already been taken'], "
        "'phone': ['is invalid']}}",
        "Shopify customer create failed: {'errors': {'email': ['has already been taken'], "
        "'phone': ['is invalid']}}",
        CauseKind.DATA,
    ),
    Shape(
        "shopify-timestamps",
        "processed_at «ts» is before the order's created_at «ts»",
        "processed_at {ts} is before the order's created_at {ts}",
        CauseKind.UNKNOWN,
    ),
    Shape(
        "url-with-query",
        "GET «url» returned 404 Not Found",
        "GET {url} returned 404 Not Found",
        CauseKind.DATA,
    ),
    # Brightpearl
    Shape(
        "brightpearl-503-busy",
        "503 Service Unavailable: Too Busy",
        "503 Service Unavailable: Too Busy",
        CauseKind.RATE_LIMITED,
    ),
    Shape(
        "brightpearl-throttle-warning",
        "brightpearl-requests-remaining: 0, waiting for the next throttle period",
        "brightpearl-requests-remaining: {n}, waiting for the next throttle period",
        CauseKind.RATE_LIMITED,
    ),
    Shape(
        "brightpearl-cmnc-404-json",
        '{"errors":[{"code":"CMNC-404","message":"Cannot find the resource product with SKU «sku»"}]}',
        '{"errors":[{"code":"CMNC-404","message":"Cannot find the resource product with SKU {sku}"}]}',
        CauseKind.DATA,
    ),
    Shape(
        "brightpearl-cmnc-404-text",
        "CMNC-404 Cannot find the resource order «n»",
        "CMNC-404 Cannot find the resource order {n}",
        CauseKind.DATA,
    ),
    Shape(
        "brightpearl-cmnc-010",
        '{"errors":[{"code":"CMNC-010","message":"You must supply a JSON formatted body '
        'with your request"}]}',
        '{"errors":[{"code":"CMNC-010","message":"You must supply a JSON formatted body '
        'with your request"}]}',
        CauseKind.DATA,
    ),
    Shape(
        "brightpearl-whsb-038-in-use",
        '{"errors":[{"code":"WHSB-038","message":"The name Main Warehouse is already in use by warehouse '
        'with ID «n»"}]}',
        '{"errors":[{"code":"WHSB-038","message":"The name Main Warehouse is already in use by warehouse '
        'with ID {n}"}]}',
        CauseKind.DUPLICATE,
    ),
    Shape(
        "brightpearl-refund-order",
        "Sales credit for refund «refund» failed: Cannot find the resource order «n»",
        "Sales credit for refund #{n} failed: Cannot find the resource order {n}",
        CauseKind.DATA,
    ),
    # NetSuite
    Shape("netsuite-sss-limit", _NETSUITE_LIMIT, _NETSUITE_LIMIT, CauseKind.RATE_LIMITED),
    Shape(
        "netsuite-soap-concurrency",
        "SOAP fault ExceededConcurrentRequestLimitFault: only «n» concurrent requests allowed "
        "for account «n»",
        "SOAP fault ExceededConcurrentRequestLimitFault: only {n} concurrent requests allowed "
        "for account {n}",
        CauseKind.RATE_LIMITED,
    ),
    Shape(
        "netsuite-rest-429",
        '429 Too Many Requests: {"type":"https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.20",'
        '"title":"Too Many Requests","status":429,"o:errorDetails":[{"detail":"Concurrency limit exceeded.",'
        '"o:errorCode":"CONCURRENCY_LIMIT_EXCEEDED"}]}',
        '429 Too Many Requests: {"type":"{url}","title":"Too Many Requests","status":429,'
        '"o:errorDetails":[{"detail":"Concurrency limit exceeded.",'
        '"o:errorCode":"CONCURRENCY_LIMIT_EXCEEDED"}]}',
        CauseKind.RATE_LIMITED,
    ),
    Shape(
        "netsuite-required-field",
        "USER_ERROR: Please enter value(s) for: Terms",
        "USER_ERROR: Please enter value(s) for: Terms",
        CauseKind.DATA,
    ),
    Shape(
        "netsuite-dup-record",
        "DUP_RECORD: This record already exists (externalId «cust»)",
        "DUP_RECORD: This record already exists (externalId {ref})",
        CauseKind.DUPLICATE,
    ),
    Shape(
        "netsuite-bad-reference",
        "INVALID_KEY_OR_REF: Invalid entity reference key «n» for subsidiary «n».",
        "INVALID_KEY_OR_REF: Invalid entity reference key {n} for subsidiary {n}.",
        CauseKind.DATA,
    ),
    Shape(
        "netsuite-date-format",
        "Invalid date value «date». Date must be in MM/DD/YYYY format",
        "Invalid date value {ts}. Date must be in MM/DD/YYYY format",
        CauseKind.DATA,
    ),
    Shape(
        "oauth-refresh-expired",
        '{"error":"invalid_grant","error_description":"Refresh token has expired"}',
        '{"error":"invalid_grant","error_description":"Refresh token has expired"}',
        CauseKind.AUTH,
    ),
    # Peoplevox, Veeqo, BigCommerce, Magento (catalogue)
    Shape(
        "peoplevox-order-exists",
        "Sales order «so» already exists",
        "Sales order {ref} already exists",
        CauseKind.DUPLICATE,
    ),
    Shape("peoplevox-item-code", "Item code «sku» not found", "Item code {sku} not found", CauseKind.DATA),
    Shape(
        "peoplevox-session-expired",
        "SOAP fault: Session has expired, please re-authenticate",
        "SOAP fault: Session has expired, please re-authenticate",
        CauseKind.AUTH,
    ),
    Shape(
        "veeqo-sellable-missing",
        '422 Unprocessable Entity: {"errors":["Sellable with SKU «sku» not found"]}',
        '422 Unprocessable Entity: {"errors":["Sellable with SKU {sku} not found"]}',
        CauseKind.DATA,
    ),
    Shape("veeqo-502", "502 Bad Gateway", "502 Bad Gateway", CauseKind.UNREACHABLE),
    Shape(
        "bigcommerce-429",
        '429 Too Many Requests: {"status":429,"title":"Too many requests"}',
        '429 Too Many Requests: {"status":429,"title":"Too many requests"}',
        CauseKind.RATE_LIMITED,
    ),
    Shape(
        "bigcommerce-422-field",
        '422 Unprocessable Entity: {"status":422,"title":"The field \'inventory_level\' '
        'is invalid for variant «sku»"}',
        '422 Unprocessable Entity: {"status":422,"title":"The field \'inventory_level\' '
        'is invalid for variant {sku}"}',
        CauseKind.DATA,
    ),
    Shape(
        "magento-401-resource",
        '401 Unauthorized: {"message":"The consumer isn\'t authorized to access %resources.",'
        '"parameters":{"resources":"Magento_Customer::manage"}}',
        '401 Unauthorized: {"message":"The consumer isn\'t authorized to access %resources.",'
        '"parameters":{"resources":"{value}"}}',
        CauseKind.AUTH,
    ),
    # Across systems: network, mapping, duplicates, ids of every sort
    Shape(
        "curl-28-timeout",
        "cURL error 28: Operation timed out after «n» milliseconds with 0 bytes received",
        "cURL error 28: Operation timed out after {n} milliseconds with {n} bytes received",
        CauseKind.UNREACHABLE,
    ),
    Shape(
        "curl-6-dns",
        "cURL error 6: Could not resolve host: acme-store.myshopify.com",
        "cURL error 6: Could not resolve host: acme-store.myshopify.com",
        CauseKind.UNREACHABLE,
    ),
    Shape(
        "curl-7-refused",
        "cURL error 7: Failed to connect to api.brightpearl.com port 443 after «n» ms: Connection refused",
        "cURL error 7: Failed to connect to api.brightpearl.com port {n} after {n} ms: Connection refused",
        CauseKind.UNREACHABLE,
    ),
    Shape(
        "http-504-gateway",
        "Request to «url» failed: HTTP/1.1 504 Gateway Time-out",
        "Request to {url} failed: HTTP/1.1 504 Gateway Time-out",
        CauseKind.UNREACHABLE,
    ),
    Shape(
        "500-with-request-id",
        "500 Internal Server Error (request id «hex»)",
        "500 Internal Server Error (request id {id})",
        CauseKind.UNREACHABLE,
    ),
    Shape(
        "webhook-uuid",
        "Webhook delivery «uuid» failed: 500 Internal Server Error",
        "Webhook delivery {uuid} failed: 500 Internal Server Error",
        CauseKind.UNREACHABLE,
    ),
    Shape(
        "mapping-missing-field",
        "Field 'shipping_method' not found in mapping table",
        "Field 'shipping_method' not found in mapping table",
        CauseKind.DATA,
    ),
    Shape(
        "mapping-unmapped-value",
        "Value '«value»' has no mapping for shipping_method",
        "Value '{value}' has no mapping for shipping_method",
        CauseKind.DATA,
    ),
    Shape(
        "double-quoted-values",
        'Invalid value "«value»" for option "Size" on product «n»',
        'Invalid value "{value}" for option "{value}" on product {n}',
        CauseKind.DATA,
    ),
    Shape(
        "json-path",
        "Validation failed at $.line_items[«n»].quantity: must be greater than 0",
        "Validation failed at $.line_items[{n}].quantity: must be greater than {n}",
        CauseKind.DATA,
    ),
    Shape(
        "already-processed",
        "Order «order» has already been processed",
        "Order #{n} has already been processed",
        CauseKind.DUPLICATE,
    ),
    Shape(
        "email-exists",
        "Customer with email «email» already exists",
        "Customer with email {email} already exists",
        CauseKind.DUPLICATE,
    ),
    Shape(
        "id-lists",
        "Orders «ns» could not be exported",
        "Orders {n} could not be exported",
        CauseKind.UNKNOWN,
    ),
    Shape(
        "rate-warning",
        "Shopify rate limit reached, retrying in «n» seconds (attempt «n» of «n»)",
        "Shopify rate limit reached, retrying in {n} seconds (attempt {n} of {n})",
        CauseKind.RATE_LIMITED,
    ),
    Shape(
        "rfc-2822-date",
        "Payload expired at «rfc»; re-send it from the source",
        "Payload expired at {ts}; re-send it from the source",
        CauseKind.UNKNOWN,
    ),
)


def _ids(shapes: tuple[Shape, ...]) -> list[str]:
    return [shape.name for shape in shapes]


def test_the_table_covers_enough_real_shapes_and_each_is_its_own_cause() -> None:
    assert len(SHAPES) >= 30
    assert len({shape.name for shape in SHAPES}) == len(SHAPES)
    assert len({shape.expected for shape in SHAPES}) == len(SHAPES)
    assert {shape.kind for shape in SHAPES} == set(CauseKind)


@pytest.mark.parametrize("shape", SHAPES, ids=_ids(SHAPES))
def test_a_real_shape_has_its_signature(shape: Shape) -> None:
    assert signature(variant(shape.template, Random(0))) == shape.expected


@pytest.mark.parametrize("shape", SHAPES, ids=_ids(SHAPES))
def test_the_signature_is_stable_across_ids(shape: Shape) -> None:
    variants = {variant(shape.template, Random(seed)) for seed in range(1, 9)}
    if "«" in shape.template:
        assert len(variants) > 1  # the variants really do differ
    assert {signature(text) for text in variants} == {shape.expected}


@pytest.mark.parametrize("shape", SHAPES, ids=_ids(SHAPES))
def test_a_signature_is_a_fixed_point(shape: Shape) -> None:
    # Stored signatures may be normalised again (re-polls, migrations): nothing may drift.
    assert signature(shape.expected) == shape.expected


@pytest.mark.parametrize(
    ("one", "other"),
    [
        pytest.param("401 Unauthorized", "403 Forbidden", id="401-vs-403"),
        pytest.param(
            "cURL error 28: Operation timed out", "cURL error 7: Operation timed out", id="curl-codes"
        ),
        pytest.param("HTTP 502", "HTTP 504", id="http-statuses"),
        pytest.param('{"status":429}', '{"status":503}', id="json-status"),
        pytest.param(
            '{"errors":[{"code":"CMNC-404","message":"x"}]}',
            '{"errors":[{"code":"CMNC-010","message":"x"}]}',
            id="brightpearl-codes",
        ),
        pytest.param(
            "Field 'shipping_method' not found in mapping table",
            "Field 'tax_code' not found in mapping table",
            id="field-names",
        ),
        pytest.param(
            "Order #1: SKU-1 could not be claimed: INVENTORY_CLAIM_FAILED",
            "Order #1: SKU-1 could not be claimed: PROCESSED_AT_INVALID",
            id="error-codes",
        ),
        pytest.param("Sales order SO-1 already exists", "Item code SO-1 not found", id="words"),
        pytest.param("Shopify: 502 Bad Gateway", "NetSuite: 502 Bad Gateway", id="system-names"),
    ],
)
def test_different_causes_stay_different(one: str, other: str) -> None:
    assert signature(one) != signature(other)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", "", id="empty"),
        pytest.param("  Line one\n\tline two\r\n", "Line one line two", id="whitespace"),
        pytest.param("bell\x07 and nul\x00 end", "bell and nul end", id="control-characters"),
        pytest.param("private \ue000\ue100\ue001 use", "private use", id="private-use"),
        pytest.param("Refs A-1, B-22, C-333 missing", "Refs {ref} missing", id="list-of-refs"),
        pytest.param("UTF-8 decode failed at byte 12", "UTF-8 decode failed at byte {n}", id="utf-8-kept"),
        pytest.param("Item code 123 not found", "Item code {sku} not found", id="numeric-item-code"),
        pytest.param(
            "It's the customer's 'VIP' tier", "It's the customer's '{value}' tier", id="apostrophes"
        ),
    ],
)
def test_signature_edge_cases(text: str, expected: str) -> None:
    assert signature(text) == expected


def test_a_signature_is_bounded_and_never_cuts_a_placeholder() -> None:
    for filler in ("word " * 100, "TSHIRT-BLK-M " * 100, "x" * 5000, "#1 " * 2000):
        result = signature(f"Order failed: {filler}")
        assert len(result) <= SIGNATURE_LIMIT
        assert result.endswith("\u2026") or len(result) < SIGNATURE_LIMIT
        assert result.count("{") == result.count("}")
    long_ids = " ".join(f"Order #{n} failed" for n in range(1000, 1300))
    shifted = " ".join(f"Order #{n} failed" for n in range(5000, 5300))
    assert signature(long_ids) == signature(shifted)


def test_every_simulator_error_is_stable_and_duplicates_are_the_resync_rule() -> None:
    flows = build_flows()
    checked = 0
    for flow_id, kinds in kinds_by_flow().items():
        flow = flows[flow_id]
        for kind in kinds:
            for _, template in kind.lines:
                signatures = set()
                for seed in range(4):
                    ref, sku = reference(Random(seed), flow)
                    filled = {"ref": ref or sku, "sku": sku, "system": "Shopify", "field": MAPPED_FIELDS[0]}
                    text = template
                    for name, value in filled.items():
                        text = text.replace(f"{{{name}}}", value)
                    signatures.add(signature(text))
                assert len(signatures) == 1, template
                checked += 1
            # The last line is the ERROR a cause is read from; `text` is still its filled form.
            assert (classify(signature(text)) is CauseKind.DUPLICATE) == kind.duplicate, text
    assert checked >= 20


@pytest.mark.parametrize("shape", SHAPES, ids=_ids(SHAPES))
def test_a_shape_is_classified_the_same_from_its_text_and_its_signature(shape: Shape) -> None:
    text = variant(shape.template, Random(0))
    assert classify(text) is shape.kind
    assert classify(signature(text)) is shape.kind


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        pytest.param("HTTP 401 from NetSuite", CauseKind.AUTH, id="http-401"),
        pytest.param(
            "INVALID_LOGIN_CREDENTIALS: You provided an invalid login.", CauseKind.AUTH, id="ns-login"
        ),
        pytest.param("Access token has expired", CauseKind.AUTH, id="token-expired"),
        pytest.param("Connection reset by peer", CauseKind.UNREACHABLE, id="reset"),
        pytest.param(
            "getaddrinfo ENOTFOUND: could not resolve api.example.com", CauseKind.UNREACHABLE, id="dns"
        ),
        pytest.param(
            "Brightpearl returned 503 Service Unavailable: Too Busy", CauseKind.RATE_LIMITED, id="too-busy"
        ),
        pytest.param("WS_CONCUR_SESSION_DISALLOWED", CauseKind.RATE_LIMITED, id="ns-concurrent-session"),
        pytest.param("ExceededRequestLimitFault", CauseKind.RATE_LIMITED, id="ns-request-limit"),
        pytest.param("Order #1045 is a duplicate", CauseKind.DUPLICATE, id="duplicate"),
        pytest.param("Customer email is required", CauseKind.DATA, id="required"),
        pytest.param("Something went wrong", CauseKind.UNKNOWN, id="unknown"),
        pytest.param("No error details returned by Patchworks", CauseKind.UNKNOWN, id="no-details"),
    ],
)
def test_classification(text: str, kind: CauseKind) -> None:
    assert classify(text) is kind
    assert classify(signature(text)) is kind


@pytest.mark.parametrize(
    ("kind", "health"),
    [(CauseKind.AUTH, Health.AUTH_FAILED), (CauseKind.UNREACHABLE, Health.UNREACHABLE)],
)
def test_auth_and_unreachable_are_connector_health_s_rule(kind: CauseKind, health: Health) -> None:
    # One rule: a cause of these kinds is exactly what makes connector health warn.
    for shape in SHAPES:
        if shape.kind is kind:
            assert health_of(variant(shape.template, Random(0))) is health, shape.name


@pytest.mark.parametrize(
    ("kind", "step"),
    [
        (CauseKind.AUTH, "Re-authorise the connector, then resync."),
        (CauseKind.UNREACHABLE, "The system is unreachable: check it before resyncing."),
        (CauseKind.DATA, "Fix the data, then resync."),
        (CauseKind.DUPLICATE, "Already processed: nothing to resync."),
    ],
)
def test_the_next_step_is_in_the_seed_s_words(kind: CauseKind, step: str) -> None:
    assert next_step(kind) == step


def test_every_kind_has_a_next_step() -> None:
    assert all(next_step(kind).endswith(".") for kind in CauseKind)


_NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


def _entry(
    *lines: tuple[str, str, str | None],
    flow: str | None = "Shopify > NetSuite: Sales orders",
    summary: str | None = None,
) -> SyncEntry:
    return SyncEntry(
        run_id=1,
        flow=Flow(id=101, name=flow) if flow else None,
        status=RunStatus.FAILURE,
        summary=summary,
        started_at=_NOW,
        errors=tuple(
            ErrorLine(level=level, message=message, step=step, at=_NOW) for level, message, step in lines
        ),
    )


def test_the_cause_of_an_entry_is_its_systems_and_first_error_line() -> None:
    entry = _entry(
        (
            "WARNING",
            "Shopify rate limit reached, retrying in 2 seconds (attempt 3 of 3)",
            "Shopify: Get orders",
        ),
        (
            "ERROR",
            "DUP_RECORD: This record already exists (externalId CUST-20001)",
            "NetSuite: Create customer",
        ),
        ("ERROR", "Something else entirely", "NetSuite: Create customer"),
    )
    key = cause_of(entry)
    assert key == CauseKey(
        systems=("NetSuite", "Shopify"), signature="DUP_RECORD: This record already exists (externalId {ref})"
    )
    assert key.kind is CauseKind.DUPLICATE is classify(entry)
    other = entry.model_copy(
        update={
            "errors": (
                entry.errors[1].model_copy(
                    update={"message": "DUP_RECORD: This record already exists (externalId CUST-29999)"}
                ),
            )
        }
    )
    assert cause_of(other) == key


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param(
            _entry(summary="Run failed after 3 attempts"),
            CauseKey(systems=("NetSuite", "Shopify"), signature="Run failed after {n} attempts"),
            id="summary",
        ),
        pytest.param(
            _entry(flow=None),
            CauseKey(systems=(), signature="No error details returned by Patchworks"),
            id="nothing",
        ),
        pytest.param(
            _entry(("INFO", "Step skipped for order #1045", "Peoplevox: Get despatches"), flow="Despatches"),
            CauseKey(systems=("Peoplevox",), signature="Step skipped for order #{n}"),
            id="no-error-level",
        ),
    ],
)
def test_the_cause_falls_back_to_what_the_entry_has(entry: SyncEntry, expected: CauseKey) -> None:
    assert cause_of(entry) == expected


def test_a_cause_key_sorts_its_systems_and_is_hashable() -> None:
    one = CauseKey(systems=("Shopify", "NetSuite", "Shopify"), signature="502 Bad Gateway")
    other = CauseKey(systems=("NetSuite", "Shopify"), signature="502 Bad Gateway")
    assert one == other
    assert one.systems == ("NetSuite", "Shopify")
    assert len({one, other}) == 1


def test_a_cause_id_is_short_stable_and_distinct() -> None:
    key = CauseKey(systems=("NetSuite", "Shopify"), signature="503 Service Unavailable: Too Busy")
    # Pinned: ids are stored in button values and database rows, so they must never change.
    assert cause_id(key) == key.id == "03055759d76c499a"
    assert re.fullmatch(r"[0-9a-f]{16}", cause_id(key))
    others = {
        CauseKey(systems=("Shopify",), signature=key.signature),
        CauseKey(systems=("NetSuite Shopify",), signature=key.signature),
        CauseKey(systems=key.systems, signature="502 Bad Gateway"),
    }
    assert len({cause_id(other) for other in others} | {cause_id(key)}) == len(others) + 1
