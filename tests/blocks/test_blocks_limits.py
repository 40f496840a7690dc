"""The limits checker: each checklist rule is caught, valid payloads pass, junk does not crash."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from blocks import limits
from blocks.limits import visible_text_length
from syncbot_sandbox.blockkit import message_problems, view_problems

Block = dict[str, Any]


def txt(text: str, kind: str = "plain_text") -> Block:
    return {"type": kind, "text": text}


def btn(action_id: str = "a", label: str = "Go", **extra: Any) -> Block:
    return {"type": "button", "action_id": action_id, "text": txt(label), **extra}


def sec(text: str = "hello", **extra: Any) -> Block:
    return {"type": "section", "text": txt(text, "mrkdwn"), **extra}


def select(n: int = 2, **extra: Any) -> Block:
    options = [{"text": txt(f"opt {i}"), "value": str(i)} for i in range(n)]
    return {
        "type": "multi_static_select",
        "action_id": "s",
        "placeholder": txt("Pick"),
        "options": options,
        **extra,
    }


def confirm(**overrides: Any) -> Block:
    dialog = {"title": txt("Sure?"), "text": txt("Really"), "confirm": txt("Yes"), "deny": txt("No")}
    dialog.update(overrides)
    return dialog


VALID: list[Block] = [
    {"type": "header", "text": txt("Title")},
    {"type": "context", "elements": [txt("ctx", "mrkdwn"), txt("plain")]},
    sec(accessory=btn("x", confirm=confirm())),
    {"type": "section", "fields": [txt("a", "mrkdwn"), txt("b", "mrkdwn")]},
    {"type": "divider"},
    {
        "type": "actions",
        "elements": [select(), btn("b", style="primary", value="v", accessibility_label="Go now")],
    },
]


def test_valid_message_has_no_problems() -> None:
    assert message_problems("fallback", VALID) == []
    assert message_problems("text only", []) == []


def mutate(change: Callable[[list[Block]], Any]) -> list[Block]:
    blocks = copy.deepcopy(VALID)
    change(blocks)
    return blocks


def _set(path: tuple[Any, ...], value: Any) -> Callable[[list[Block]], None]:
    def change(blocks: list[Block]) -> None:
        node: Any = blocks
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda b: b.extend([{"type": "divider"}] * 45), "51 blocks > 50"),
        (lambda b: [x.update(block_id="same") for x in b[:2]], "duplicate block_id"),
        (_set((5, "elements", 1, "action_id"), "s"), "duplicate action_id"),
        (_set((2, "text", "text"), "x" * 3001), "3001 characters > 3000"),
        (_set((3, "fields", 0, "text"), "x" * 2001), "2001 characters > 2000"),
        (_set((3, "fields"), [txt("f", "mrkdwn")] * 11), "11 fields > 10"),
        (_set((2, "text", "text"), ""), "must not be empty"),
        (_set((2, "text", "text"), "   "), "must not be empty"),
        (_set((0, "text"), txt("Title", "mrkdwn")), "must be plain_text"),
        (_set((0, "text", "text"), "x" * 151), "151 characters > 150"),
        (_set((1, "elements"), [txt("c")] * 11), "11 elements > 10"),
        (_set((5, "elements"), [btn(str(i)) for i in range(26)]), "26 elements > 25"),
        (_set((5, "elements", 1, "text", "text"), "x" * 76), "76 characters > 75"),
        (_set((5, "elements", 1, "value"), "x" * 2001), "2001 characters > 2000"),
        (_set((5, "elements", 1, "url"), "https://x/" + "x" * 3000), "characters > 3000"),
        (_set((5, "elements", 1, "accessibility_label"), "x" * 76), "76 characters > 75"),
        (_set((5, "elements", 1, "style"), "fancy"), "must be primary or danger"),
        (_set((5, "elements", 0), select(101)), "101 options > 100"),
        (_set((5, "elements", 0, "option_groups"), []), "exactly one of options and option_groups"),
        (_set((5, "elements", 0, "options", 0, "text", "text"), "x" * 76), "76 characters > 75"),
        (_set((5, "elements", 0, "options", 0, "value"), "x" * 151), "151 characters > 150"),
        (_set((5, "elements", 0, "options", 0, "text"), txt("m", "mrkdwn")), "must be plain_text"),
        (_set((5, "elements", 0, "placeholder"), txt("p", "mrkdwn")), "must be plain_text"),
        (_set((5, "elements", 0, "placeholder", "text"), "x" * 151), "151 characters > 150"),
        (_set((5, "elements", 0, "max_selected_items"), 0), "integer >= 1"),
        (_set((5, "elements", 0, "initial_options"), [{"text": txt("zz"), "value": "zz"}]), "does not match"),
        (_set((2, "accessory", "confirm"), confirm(deny=None)), "confirm.deny: must be a text object"),
        (_set((2, "accessory", "confirm", "title", "text"), "x" * 101), "101 characters > 100"),
        (_set((2, "accessory", "confirm", "text", "text"), "x" * 301), "301 characters > 300"),
        (_set((2, "accessory", "confirm", "confirm", "text"), "x" * 31), "31 characters > 30"),
        (_set((2, "accessory", "confirm", "style"), "loud"), "must be primary or danger"),
        (_set((2, "text", "text"), "hi <!here>"), "raw broadcast"),
        (_set((2, "text", "text"), "hi <!channel|channel>"), "raw broadcast"),
        (_set((2, "text", "text"), "hi <!EVERYONE>"), "raw broadcast"),
        (_set((2, "text", "text"), "<!subteam^S123|@ops>"), "raw broadcast"),
        (_set((1, "elements", 0, "text"), "<!here>"), "raw broadcast"),
        (_set((5, "elements", 0, "options", 0, "text", "text"), "<!channel>"), "raw broadcast"),
        (_set((2, "text", "emoji"), True), "emoji applies to plain_text only"),
        (_set((0, "text", "verbatim"), True), "verbatim applies to mrkdwn only"),
        (_set((2, "block_id"), "x" * 256), "256 characters > 255"),
        (_set((5, "elements", 1, "action_id"), "x" * 256), "256 characters > 255"),
        (_set((2, "type"), "sektion"), "unknown block type"),
        (_set((2, "accessory"), {"type": "datetimepicker"}), "not allowed here"),
        (
            _set((5, "elements", 0), {"type": "checkboxes", "options": select(11)["options"]}),
            "11 options > 10",
        ),
        (_set((5, "elements", 0), {"type": "overflow", "options": select(6)["options"]}), "6 options > 5"),
        (
            lambda b: b.append({"type": "rich_text", "elements": [{"type": "broadcast", "range": "here"}]}),
            "broadcast",
        ),
        (lambda b: b.append({"type": "section"}), "needs text or fields"),
        (
            lambda b: b.append(sec("x" * 2990)) or b.extend([sec("y" * 2990) for _ in range(3)]),
            "visible text",
        ),
    ],
)
def test_each_rule_is_enforced(change: Callable[[list[Block]], Any], expected: str) -> None:
    problems = message_problems("fallback", mutate(change))
    assert any(expected in problem for problem in problems), problems


def test_same_action_id_in_different_blocks_is_fine() -> None:
    blocks = [
        {"type": "actions", "elements": [btn("resync")]},
        {"type": "actions", "elements": [btn("resync")]},
    ]
    assert message_problems("t", blocks) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, "must be present"), ("", "must be present"), ("  ", "must be present"), ("x" * 4001, "4001")],
)
def test_top_level_text_is_required_and_bounded(text: Any, expected: str) -> None:
    assert any(expected in p for p in message_problems(text, VALID))


def test_top_level_text_may_not_broadcast() -> None:
    assert message_problems("<!channel> hello", VALID) == [
        "text: contains a raw broadcast or user-group mention"
    ]


def test_user_mentions_and_dates_and_links_are_allowed() -> None:
    blocks = [sec("<@U123> at <!date^1^{date}|x> see <https://x.example|here>")]
    assert message_problems("<@U123>", blocks) == []


@pytest.mark.parametrize(
    "junk", [None, "blocks", 3, [None], [[1]], [{"type": None}], [{"type": "section", "text": 5}]]
)
def test_malformed_payloads_are_reported_not_raised(junk: Any) -> None:
    assert message_problems("t", junk) != []


def test_visible_text_counts_what_is_shown_only() -> None:
    blocks = [
        {"type": "header", "text": txt("12345")},
        {
            "type": "actions",
            "elements": [select(50), btn("b", label="123", confirm=confirm(text=txt("x" * 300)))],
        },
    ]
    assert visible_text_length(blocks) == 5 + len("Pick") + 3


def modal(**extra: Any) -> Block:
    view: Block = {"type": "modal", "title": txt("Title"), "close": txt("Close"), "blocks": [sec()]}
    view.update(extra)
    return view


def test_valid_view_has_no_problems() -> None:
    assert view_problems(modal(submit=txt("Go"), private_metadata="{}", callback_id="cb")) == []


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        (modal(title=txt("x" * 25)), "25 characters > 24"),
        (modal(submit=txt("x" * 25)), "25 characters > 24"),
        (modal(close=txt("x" * 25)), "25 characters > 24"),
        (modal(title=None), "title: must be a text object"),
        (modal(private_metadata="x" * 3001), "private_metadata"),
        (modal(callback_id="x" * 256), "256 characters > 255"),
        (modal(blocks=[sec(block_id=str(i)) for i in range(101)]), "101 blocks > 100"),
        (modal(blocks=[]), "at least 1 block"),
        (modal(blocks=[sec(block_id="a"), sec(block_id="a")]), "duplicate block_id"),
        (
            modal(blocks=[{"type": "input", "label": txt("L"), "element": {"type": "plain_text_input"}}]),
            "needs a submit",
        ),
        (modal(blocks=[sec("é" * 2900, block_id=str(i)) for i in range(30)]), "bytes of JSON > 250000"),
        (modal(private_metadata=object()), "private_metadata"),
        (modal(type="dialog"), "must be modal or home"),
    ],
)
def test_view_rules_are_enforced(view: Block, expected: str) -> None:
    problems = view_problems(view)
    assert any(expected in problem for problem in problems), problems


def test_view_junk_is_reported() -> None:
    assert view_problems("nope") == ["view: must be an object"]
    assert view_problems({"type": "modal"}) != []


def test_constants_match_the_checklist() -> None:
    assert (limits.MAX_MESSAGE_BLOCKS, limits.MAX_VIEW_BLOCKS, limits.MESSAGE_TEXT_BUDGET) == (
        50,
        100,
        10_000,
    )
    assert (limits.OPTION_VALUE, limits.BUTTON_VALUE, limits.PRIVATE_METADATA) == (150, 2000, 3000)
