"""Static material the simulated tenant is built from: flows, their steps and error shapes.

Error texts follow docs/reference patchworks.md §7.3/§7.4: real destination-system messages
where they are known, plausible SOAP/REST shapes where they are not (Peoplevox, Veeqo).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "AUTH_ERROR",
    "CONCURRENCY_ERROR",
    "DUPLICATE",
    "FLOWS",
    "MAPPED_FIELDS",
    "SKUS",
    "TIMEOUT_ERROR",
    "ErrorKind",
    "FlowSpec",
    "Role",
    "Where",
    "error_kinds_for",
]

Role = Literal["source", "map", "dest"]
# Where an error happens: a step of that role, or "either" system step (source or destination).
Where = Literal["source", "map", "dest", "either"]

AUTH_ERROR = "401 Unauthorized \u2013 invalid or expired access token"
TIMEOUT_ERROR = "cURL error 28: Operation timed out after 30000 milliseconds with 0 bytes received"
# NetSuite's concurrency limit as a flow creating sales orders meets it, order after order: the
# demo's outage (a Burst). {ref} is each run's order number, so every text differs, one cause.
CONCURRENCY_ERROR = (
    "Order {ref}: SSS_REQUEST_LIMIT_EXCEEDED - Request limit exceeded. "
    "The concurrency governance limit for this account was reached."
)

# The same test the bot applies (models.py): such failures end the same way when retried.
DUPLICATE = re.compile(r"already (been )?processed|already exists|already in use|duplicate", re.IGNORECASE)

SKUS = (
    "TSHIRT-BLK-M",
    "TSHIRT-WHT-L",
    "HOODIE-GRY-L",
    "MUG-WHT-11OZ",
    "CAP-NVY-OS",
    "SOCK-RED-39-42",
    "TOTE-NAT-OS",
    "JACKET-OLV-S",
)
MAPPED_FIELDS = ("shipping_method", "tax_code", "payment_terms", "country_code")


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """A flow of the simulated tenant; `entity` decides what its runs' business references look like."""

    id: int
    name: str
    enabled: bool
    entity: Literal["order", "sales_order", "sku", "refund", "customer", "batch"]
    steps: tuple[tuple[str, Role], ...]


FLOWS: tuple[FlowSpec, ...] = (
    FlowSpec(
        101,
        "Shopify > NetSuite: Sales orders",
        True,
        "order",
        (
            ("Shopify: Get orders", "source"),
            ("Map: Order to sales order", "map"),
            ("NetSuite: Create sales order", "dest"),
        ),
    ),
    FlowSpec(
        102,
        "Shopify > Brightpearl: Sales orders",
        True,
        "order",
        (
            ("Shopify: Get orders", "source"),
            ("Map: Order fields", "map"),
            ("Brightpearl: Create sales order", "dest"),
        ),
    ),
    FlowSpec(
        103,
        "Brightpearl > Shopify: Inventory levels",
        True,
        "sku",
        (("Brightpearl: Get stock levels", "source"), ("Shopify: Update inventory level", "dest")),
    ),
    FlowSpec(
        104,
        "Peoplevox > Shopify: Fulfilments",
        True,
        "order",
        (
            ("Peoplevox: Get despatches", "source"),
            ("Map: Despatch to fulfilment", "map"),
            ("Shopify: Create fulfilment", "dest"),
        ),
    ),
    FlowSpec(
        105,
        "Shopify > Peoplevox: Sales orders",
        True,
        "sales_order",
        (("Shopify: Get orders", "source"), ("Peoplevox: Create sales order", "dest")),
    ),
    FlowSpec(
        106,
        "NetSuite > Shopify: Products",
        True,
        "sku",
        (
            ("NetSuite: Get items", "source"),
            ("Map: Item to product", "map"),
            ("Shopify: Create product", "dest"),
        ),
    ),
    FlowSpec(
        107,
        "Shopify > Brightpearl: Refunds",
        True,
        "refund",
        (("Shopify: Get refunds", "source"), ("Brightpearl: Create sales credit", "dest")),
    ),
    FlowSpec(
        108,
        "Magento > NetSuite: Customers",
        False,
        "customer",
        (("Magento: Get customers", "source"), ("NetSuite: Create customer", "dest")),
    ),
    FlowSpec(
        109,
        "BigCommerce > Veeqo: Orders",
        True,
        "order",
        (("BigCommerce: Get orders", "source"), ("Veeqo: Create order", "dest")),
    ),
    FlowSpec(
        110,
        "Veeqo > BigCommerce: Stock levels",
        False,
        "batch",
        (("Veeqo: Get stock levels", "source"), ("BigCommerce: Update inventory", "dest")),
    ),
)


@dataclass(frozen=True, slots=True)
class ErrorKind:
    """One way a run fails: log lines (level, template) at a step chosen by `where`.

    Templates may use {ref} (the run's business reference), {sku}, {system} and {field}.
    """

    where: Where
    lines: tuple[tuple[str, str], ...]
    weight: float = 1.0
    partial: bool = False  # can end a batch run as partial success rather than failure
    only_entities: frozenset[str] = field(default_factory=frozenset)

    @property
    def duplicate(self) -> bool:
        """Whether this failure says the record was already processed (not resyncable)."""
        return any(DUPLICATE.search(text) for _, text in self.lines)


_RATE_WARNING = ("WARNING", "{system} rate limit reached, retrying in 2 seconds (attempt 3 of 3)")

# Errors a system raises when it is the destination of a flow (or, for "source", when read from).
_SYSTEM_ERRORS: dict[str, tuple[ErrorKind, ...]] = {
    "Shopify": (
        ErrorKind(
            "dest",
            (
                _RATE_WARNING,
                (
                    "ERROR",
                    '429 Too Many Requests: {"errors":"Exceeded 2 calls per second for api client. '
                    'Reduce request rates to resume uninterrupted service."}',
                ),
            ),
            weight=3,
            partial=True,
        ),
        ErrorKind(
            "source",
            (
                (
                    "ERROR",
                    '429 Too Many Requests: {"errors":"Exceeded 2 calls per second for api client. '
                    'Reduce request rates to resume uninterrupted service."}',
                ),
            ),
        ),
        ErrorKind(
            "dest",
            (
                (
                    "ERROR",
                    'userErrors: [{"field":["inventoryItemId"],"message":"Inventory could not be '
                    'claimed for {sku}","code":"INVENTORY_CLAIM_FAILED"}]',
                ),
            ),
            weight=1.5,
            partial=True,
            only_entities=frozenset({"sku", "batch"}),
        ),
        ErrorKind(
            "dest",
            (
                (
                    "ERROR",
                    '422 Unprocessable Entity: {"errors":{"base":["Fulfillment for order {ref} '
                    'already exists"]}}',
                ),
            ),
            only_entities=frozenset({"order"}),
        ),
        ErrorKind(
            "dest",
            (
                (
                    "ERROR",
                    'userErrors: [{"field":["processedAt"],"message":"Processed at is invalid",'
                    '"code":"PROCESSED_AT_INVALID"}]',
                ),
            ),
            only_entities=frozenset({"order"}),
        ),
    ),
    "Brightpearl": (
        ErrorKind(
            "dest",
            (
                ("WARNING", "brightpearl-requests-remaining: 0, waiting for the next throttle period"),
                ("ERROR", "503 Service Unavailable: Too Busy"),
            ),
            weight=3,
        ),
        ErrorKind("source", (("ERROR", "503 Service Unavailable: Too Busy"),), weight=2, partial=True),
        ErrorKind(
            "dest",
            (
                (
                    "ERROR",
                    '{"errors":[{"code":"CMNC-404","message":"Cannot find the resource product '
                    'with SKU {sku}"}]}',
                ),
            ),
            weight=2,
        ),
        ErrorKind(
            "dest",
            (
                (
                    "ERROR",
                    '{"errors":[{"code":"WHSB-038","message":"The name Main Warehouse is already '
                    'in use by warehouse with ID 3"}]}',
                ),
            ),
        ),
    ),
    "NetSuite": (
        ErrorKind(
            "dest",
            (
                _RATE_WARNING,
                (
                    "ERROR",
                    "400 Bad Request: SSS_REQUEST_LIMIT_EXCEEDED - Request limit exceeded. "
                    "The concurrency governance limit for this account was reached.",
                ),
            ),
            weight=3,
        ),
        ErrorKind(
            "source",
            (
                (
                    "ERROR",
                    "400 Bad Request: SSS_REQUEST_LIMIT_EXCEEDED - Request limit exceeded. "
                    "The concurrency governance limit for this account was reached.",
                ),
            ),
            partial=True,
        ),
        ErrorKind("dest", (("ERROR", "USER_ERROR: Please enter value(s) for: Terms"),), weight=2),
        ErrorKind(
            "dest",
            (("ERROR", "DUP_RECORD: This record already exists (externalId {ref})"),),
            only_entities=frozenset({"order", "customer"}),
        ),
    ),
    "Peoplevox": (
        ErrorKind(
            "dest",
            (("ERROR", "Sales order {ref} already exists"),),
            weight=2,
            only_entities=frozenset({"sales_order"}),
        ),
        ErrorKind(
            "dest",
            (
                ("WARNING", "Line 2 of {ref} skipped: unknown item code"),
                ("ERROR", "Item code {sku} not found"),
            ),
            weight=2,
        ),
        ErrorKind(
            "source",
            (("ERROR", "SOAP fault: Session has expired, please re-authenticate"),),
        ),
    ),
    "Veeqo": (
        ErrorKind(
            "dest",
            (("ERROR", '422 Unprocessable Entity: {"errors":["Sellable with SKU {sku} not found"]}'),),
            weight=2,
        ),
        ErrorKind("source", (("ERROR", "502 Bad Gateway"),), partial=True),
    ),
    "BigCommerce": (
        ErrorKind(
            "source",
            (("ERROR", '429 Too Many Requests: {"status":429,"title":"Too many requests"}'),),
        ),
        ErrorKind(
            "dest",
            (
                (
                    "ERROR",
                    '422 Unprocessable Entity: {"status":422,"title":"The field \'inventory_level\' '
                    'is invalid for variant {sku}"}',
                ),
            ),
            partial=True,
        ),
    ),
    "Magento": (
        ErrorKind(
            "source",
            (
                (
                    "ERROR",
                    '401 Unauthorized: {"message":"The consumer isn\'t authorized to access '
                    '%resources.","parameters":{"resources":"Magento_Customer::manage"}}',
                ),
            ),
        ),
    ),
}

_MAPPING = ErrorKind(
    "map",
    (
        ("WARNING", "Value 'Express 24' has no mapping for {field}"),
        ("ERROR", "Field '{field}' not found in mapping table"),
    ),
    weight=2,
)
_ALREADY_PROCESSED = ErrorKind(
    "dest",
    (("ERROR", "Order {ref} has already been processed"),),
    only_entities=frozenset({"order"}),
)
_TIMEOUT = ErrorKind("either", (("ERROR", TIMEOUT_ERROR),), weight=1.5)
_AUTH = ErrorKind("either", (("ERROR", AUTH_ERROR),))


def error_kinds_for(spec: FlowSpec) -> tuple[ErrorKind, ...]:
    """Every way a run of this flow can fail, filtered to the flow's steps and entity."""
    roles = {role for _, role in spec.steps}
    source, _, rest = spec.name.partition(" > ")
    dest = rest.partition(":")[0]
    kinds = [
        kind
        for system, role in ((source, "source"), (dest, "dest"))
        for kind in _SYSTEM_ERRORS.get(system, ())
        if kind.where == role
    ]
    kinds += [_ALREADY_PROCESSED, _TIMEOUT, _AUTH]
    if "map" in roles:
        kinds.append(_MAPPING)
    return tuple(k for k in kinds if not k.only_entities or spec.entity in k.only_entities)
