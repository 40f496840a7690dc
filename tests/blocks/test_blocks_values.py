"""Button, option and modal values: every id is range-checked by its model, so a forged or
out-of-range one is an InvalidValue (answered "not one syncbot understands"), never a crash."""

from __future__ import annotations

import json

import pytest

from blocks.limits import MAX_OPTIONS
from blocks.values import (
    MAX_ID,
    MAX_RUNS,
    BulkRef,
    EntryRef,
    InvalidValue,
    ListRef,
    decode,
    decode_run_option,
    encode,
)

BIG = 10**22  # 23 digits: fits JSON, not SQLite's INTEGER
# Numbers as they arrive inside JSON: out of range, or not integers syncbot would write.
BAD_IDS: list[object] = [BIG, MAX_ID + 1, 2**63, -1, 0, 1.5, 5.0, "5", True, [], {}]


def raw(**fields: object) -> str:
    return json.dumps({"v": 1, **fields})


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_an_entry_ref_refuses_a_run_or_message_id_out_of_range_or_not_an_integer(bad: object) -> None:
    with pytest.raises(InvalidValue):
        decode(EntryRef, raw(run=bad, msg=1))
    with pytest.raises(InvalidValue):
        decode(EntryRef, raw(run=1, msg=bad))


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_a_bulk_ref_refuses_any_bad_run_id_in_its_list(bad: object) -> None:
    with pytest.raises(InvalidValue):
        decode(BulkRef, raw(msg=None, runs=[1, bad, 3]))
    with pytest.raises(InvalidValue):
        decode(BulkRef, raw(msg=bad, runs=[1]))


# The "List them" button of a digest posted before ListRef.digest was dropped, exactly as written.
OLD_LIST_THEM = '{"v":1,"q":"","minutes":1440,"page":1,"digest":42}'


def test_an_old_list_them_value_carrying_a_digest_id_still_decodes() -> None:
    assert decode(ListRef, OLD_LIST_THEM) == ListRef(minutes=24 * 60)
    assert decode(ListRef, raw(minutes=60, digest=None)) == ListRef(minutes=60)
    assert decode(ListRef, raw(minutes=60, digest=MAX_ID)) == ListRef(minutes=60)
    assert "digest" not in encode(ListRef(minutes=60))


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_a_list_ref_still_refuses_a_forged_digest_id(bad: object) -> None:
    with pytest.raises(InvalidValue):
        decode(ListRef, raw(minutes=60, digest=bad))


def test_a_list_ref_refuses_other_unknown_fields() -> None:
    with pytest.raises(InvalidValue):
        decode(ListRef, raw(minutes=60, msg=1))


def test_the_23_digit_forgery_from_the_bug_report() -> None:
    with pytest.raises(InvalidValue):
        decode(EntryRef, f'{{"v":1,"run":{BIG},"msg":1}}')
    with pytest.raises(InvalidValue):
        decode(BulkRef, f'{{"v":1,"msg":null,"runs":[{BIG}],"ch":"C0SYNCBOT"}}')


def test_ids_up_to_the_limit_round_trip() -> None:
    for ref in (
        EntryRef(run=MAX_ID, msg=MAX_ID),
        EntryRef(run=1),
        BulkRef(msg=MAX_ID, runs=(1, MAX_ID)),
        ListRef(minutes=60, q="shopify", page=3),
    ):
        assert decode(type(ref), encode(ref)) == ref


def test_a_huge_run_list_is_refused() -> None:
    assert len(decode(BulkRef, raw(runs=list(range(1, MAX_RUNS + 1)))).runs) == MAX_RUNS
    with pytest.raises(InvalidValue):
        decode(BulkRef, raw(runs=[1] * (MAX_RUNS + 1)))  # short enough, but more than any button carries
    with pytest.raises(InvalidValue):
        decode(BulkRef, raw(runs=list(range(1, 100_000))))  # longer than any Slack value
    with pytest.raises(ValueError, match=f"at most {MAX_RUNS}"):
        BulkRef(runs=tuple(range(1, MAX_RUNS + 2)))


def test_every_run_list_syncbot_writes_fits_the_model() -> None:
    assert MAX_OPTIONS <= MAX_RUNS


@pytest.mark.parametrize(
    ("value", "run"), [("1", 1), ("12", 12), (str(MAX_ID), MAX_ID), ("9007199254740991", 2**53 - 1)]
)
def test_an_option_value_is_a_run_id(value: str, run: int) -> None:
    assert decode_run_option(value) == run


@pytest.mark.parametrize(
    "value",
    [
        str(BIG),
        str(MAX_ID + 1),
        "9" * 16,
        "0",
        "-1",
        "012",
        "1.5",
        "1e3",
        "+1",
        " 1",
        "1 ",
        "1_000",
        "١٢",
        "",
        12,
        None,
    ],
)
def test_an_option_value_that_is_not_a_run_id_is_invalid(value: object) -> None:
    with pytest.raises(InvalidValue):
        decode_run_option(value)
