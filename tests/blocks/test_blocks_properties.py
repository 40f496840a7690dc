"""Property tests: any text anywhere still gives payloads Slack accepts, with no live mentions."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.blockkit import ADMIN, HOSTILE, NOW, assert_valid_message, assert_valid_modal, entry, raw_tokens

from blocks.bulk import build_bulk_confirm_modal, build_bulk_summary
from blocks.details import build_details_modal
from blocks.digest import build_digest
from blocks.listing import build_listing
from blocks.model import (
    BulkPlan,
    CauseView,
    DetailsModel,
    Digest,
    DigestItem,
    EntryState,
    Listing,
    Outcome,
    Skipped,
)
from blocks.text import escape
from bot.patchworks.models import ErrorLine, Health, RunStatus, SystemHealth

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Arbitrary Unicode, hostile fragments, and long runs of characters that expand when escaped.
texts = st.one_of(
    st.text(max_size=400),
    st.sampled_from(HOSTILE),
    st.lists(st.sampled_from([*HOSTILE, "&", "<", ">", "*", "\n", "x" * 700]), max_size=12).map("".join),
    st.builds(lambda c, n: c * n, st.sampled_from(["&", "<", "é", "🎉", "x"]), st.integers(0, 6000)),
)
users = st.one_of(st.none(), st.just(ADMIN), texts)


@st.composite
def digest_items(draw: Any, max_size: int = 20) -> list[DigestItem]:
    runs = draw(st.lists(st.integers(1, 2**53), min_size=1, max_size=max_size, unique=True))
    items = []
    for run in runs:
        lines = tuple(
            ErrorLine(
                level=draw(st.sampled_from(["ERROR", "WARNING", "x"])), message=draw(texts), step=draw(texts)
            )
            for _ in range(draw(st.integers(0, 2)))
        )
        sync_entry = entry(
            run,
            flow=draw(texts),
            flow_id=draw(st.integers(1, 3)),
            enabled=draw(st.sampled_from([True, False, None])),
            status=draw(st.sampled_from([RunStatus.FAILURE, RunStatus.PARTIAL_SUCCESS, RunStatus.SUCCESS])),
            reference=draw(st.one_of(st.none(), texts)),
            url=draw(st.sampled_from(["default", None])),
            retry_of=draw(st.one_of(st.none(), st.integers(1, 2**53))),
            errors=lines,
            summary=draw(st.one_of(st.none(), texts)),
        )
        outcome = Outcome(
            state=draw(st.sampled_from(EntryState)),
            by_user=draw(users),
            at=draw(st.sampled_from([None, NOW])),
            new_run_id=draw(st.one_of(st.none(), st.integers(1, 2**53))),
            detail=draw(st.one_of(st.none(), texts)),
        )
        items.append(DigestItem(entry=sync_entry, outcome=outcome))
    return items


@SETTINGS
@given(
    items=digest_items(),
    causes=st.integers(1, 60),
    counts=st.integers(1, 10**6),
    flows=st.lists(st.tuples(texts, st.integers(1, 10**6)), max_size=8),
    example=texts,
    step=texts,
    part=st.integers(1, 50),
)
def test_any_digest_is_valid_and_inert(
    items: list[DigestItem],
    causes: int,
    counts: int,
    flows: list[tuple[str, int]],
    example: str,
    step: str,
    part: int,
) -> None:
    views = tuple(
        CauseView(
            cause_id=f"{index:016x}",
            example=example,
            next_step=step,
            count=counts,
            open_runs=counts // (index + 1),
            retryable=counts // (index + 2),
            flows=tuple(flows),
            systems=("Shopify", "NetSuite"),
            first_seen=NOW,
            last_seen=NOW,
            items=tuple(items[index::causes]),
        )
        for index in range(causes)
    )
    digest = Digest(message_id=7, part=part, parts=50, created_at=NOW, causes=views)
    text, blocks = build_digest(digest)
    assert_valid_message(text, blocks)
    assert raw_tokens(text, blocks) == []


@SETTINGS
@given(
    items=digest_items(max_size=15), query=texts, page=st.integers(1, 10_000), minutes=st.integers(1, 21_600)
)
def test_any_listing_is_valid_and_inert(items: list[DigestItem], query: str, page: int, minutes: int) -> None:
    listing = Listing(
        items=tuple(items), query=query, minutes=minutes, page=page, pages=page + 1, total=len(items)
    )
    text, blocks = build_listing(listing)
    assert_valid_message(text, blocks)
    assert raw_tokens(text, blocks) == []


@SETTINGS
@given(
    items=digest_items(max_size=3),
    lines=st.lists(texts, max_size=40),
    health=st.lists(st.tuples(texts, st.sampled_from(Health), st.one_of(st.none(), texts)), max_size=5),
    # The notice is syncbot's own mrkdwn: a real mention plus escaped untrusted text.
    notice=st.one_of(st.none(), texts.map(escape), texts.map(lambda t: f"<@{ADMIN}> {escape(t)}")),
)
def test_any_details_modal_is_valid_and_inert(
    items: list[DigestItem],
    lines: list[str],
    health: list[tuple[str, Health, str | None]],
    notice: str | None,
) -> None:
    first = items[0]
    errors = tuple(ErrorLine(level="ERROR", message=line, step=line[:50]) for line in lines)
    model = DetailsModel(
        entry=first.entry.model_copy(update={"errors": errors}),
        outcome=first.outcome,
        health=tuple(SystemHealth(system=s, health=h, evidence=e) for s, h, e in health),
        notice=notice,
        message_id=3,
    )
    view = build_details_modal(model)
    assert_valid_modal(view)
    assert raw_tokens("", view["blocks"]) == []


@SETTINGS
@given(items=digest_items(), reasons=st.lists(texts, max_size=20), user=texts)
def test_any_bulk_modal_and_summary_are_valid_and_inert(
    items: list[DigestItem],
    reasons: list[str],
    user: str,
) -> None:
    entries = [i.entry for i in items]
    skipped = tuple(Skipped(entry=entries[n % len(entries)], reason=r) for n, r in enumerate(reasons))
    view = build_bulk_confirm_modal(BulkPlan(message_id=None, to_resync=tuple(entries), skipped=skipped))
    assert_valid_modal(view)
    assert raw_tokens("", view["blocks"]) == []
    text, blocks = build_bulk_summary(
        [(e, e.run_id) for e in entries],
        list(skipped),
        [(e, r) for e, r in zip(entries, reasons, strict=False)],
        user,
    )
    assert_valid_message(text, blocks)
    assert raw_tokens(text, blocks) == []
