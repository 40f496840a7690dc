"""The demo in a real headless Chromium: an outage's digest updated in place, Details, Resync, a
read-only user, "Resync selected…", "Resync all N…" with its progress and summary,
/failed-syncs and the App Home tab, all clicked in the sandbox page and delivered to the bot as
signed requests.

It also refreshes the screenshots the README shows (docs/*.png).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from support.demo import DemoThread

from syncbot_sandbox.demo import OUTAGE_FLOW, DemoOptions, DemoStack
from syncbot_sandbox.simulator import Burst
from syncbot_sandbox.simulator.catalogue import CONCURRENCY_ERROR
from syncbot_sandbox.store import DEFAULT_CHANNEL

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOCS = Path(__file__).resolve().parents[2] / "docs"
# No stream of new failures and no outages: the page changes only because of what the test does.
# Retries succeed (the outage is over when the test resyncs), so the outage ends resolved.
OPTIONS = DemoOptions(
    seed=1,
    initial_failures=12,
    failures_every_s=None,
    retry_delay_s=2.0,
    retry_success_rate=1.0,
    poll_seconds=2,
    outage_every_s=None,
    burst=None,
)
WAIT_MS = 20_000
# The outage the test starts once the first digest is up: the demo's, shorter, over a few polls.
BURST = Burst(flow_id=OUTAGE_FLOW, error=CONCURRENCY_ERROR, count=24, every_s=0.2)
# The cause's error as the digest shows it: verbatim, each run with its own order number.
OUTAGE_ERROR = re.compile(r"^Order #\d+: SSS_REQUEST_LIMIT_EXCEEDED - Request limit exceeded\.")


def _needs_browser() -> None:
    """Skip without Chromium or Playwright, except in CI, where a missing browser is a failure."""
    missing = None
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        missing = f"Debian's chromium ({CHROMIUM}); install it with `apt-get install chromium`"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "Playwright for Python (`pip install -e '.[e2e]'`)"
    if missing is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser test, but {missing} is missing")
    pytest.skip(f"needs {missing}; CI always runs this test")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoStack]:
    """The whole demo on free ports, stopped (and its database removed) afterwards."""
    _needs_browser()
    running = DemoThread(tmp_path / "demo-data", OPTIONS)
    stack = running.start()
    try:
        yield stack
    finally:
        running.stop()
    assert not list((tmp_path / "demo-data").glob("*.db")), "the demo left its database behind"


def _words(text: str) -> list[str]:
    """A few plain words of an error message (the digest swaps some characters for look-alikes)."""
    return re.findall(r"[A-Za-z]{4,}", text)[:3]


TRICKY = (
    "*bold* _italic_ `co_de` <https://example.com/a_b|a link> <@U0ADA> "
    "<!date^1795785041^{date_short}|27 Nov> &lt;img src=x onerror=alert(1)&gt; <javascript:alert(1)|js>"
)


def _check_mrkdwn_and_menus(page: Page, demo: DemoStack) -> None:
    """mrkdwn is drawn as Slack does and never as HTML; an overflow choice reaches the bot."""
    from playwright.sync_api import expect

    overflow = {
        "type": "overflow",
        "action_id": "sandbox_overflow",
        "options": [{"text": {"type": "plain_text", "text": "Shout"}, "value": "shout"}],
        "confirm": {
            "title": {"type": "plain_text", "text": "Really?"},
            "text": {"type": "plain_text", "text": "Sure?"},
            "confirm": {"type": "plain_text", "text": "Go"},
            "deny": {"type": "plain_text", "text": "No"},
            "style": "danger",
        },
    }
    block = {"type": "section", "text": {"type": "mrkdwn", "text": TRICKY}, "accessory": overflow}
    demo.workspace.post_message(DEFAULT_CHANNEL, "tricky", [block])
    message = page.locator(".msg", has_text="27 Nov").last
    expect(message).to_be_visible(timeout=WAIT_MS)
    text = message.locator(".bk-text")
    expect(text.locator("strong")).to_have_text("bold")
    expect(text.locator("em")).to_have_text("italic")
    expect(text.locator("code")).to_have_text("co_de")
    expect(text.locator("a[href='https://example.com/a_b']")).to_have_text("a link")
    expect(text.locator(".mention")).to_have_text("@ada")
    expect(text).to_contain_text("<img src=x onerror=alert(1)>")
    expect(text.locator("img")).to_have_count(0)
    expect(text.locator("a[href^=javascript]")).to_have_count(0)

    message.get_by_role("button", name="More actions").click()
    message.get_by_role("menuitem", name="Shout").click()
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_contain_text("Sure?")
    dialog.locator("#confirm-ok").click()
    # An action syncbot does not know still reaches it, signed, and gets its polite answer.
    answer = page.locator(".msg.ephemeral", has_text="not one syncbot understands")
    expect(answer).to_be_visible(timeout=WAIT_MS)

    # A modal with an input: what is typed travels in view.state, and the app's ack closes it.
    note = {
        "type": "input",
        "block_id": "note",
        "label": {"type": "plain_text", "text": "Note"},
        "element": {"type": "plain_text_input", "action_id": "text"},
    }
    view = demo.workspace.open_view(
        "U0VIC",
        {
            "type": "modal",
            "callback_id": "sandbox_note",
            "title": {"type": "plain_text", "text": "A note"},
            "submit": {"type": "plain_text", "text": "Save"},
            "blocks": [note],
        },
    )
    modal = page.locator(".modal")
    modal.get_by_label("Note").fill("hello <b>")
    modal.get_by_role("button", name="Save").click()
    expect(modal).to_have_count(0, timeout=WAIT_MS)
    assert view.values == {"note": {"text": {"type": "plain_text_input", "value": "hello <b>"}}}


def _shoot(page: Page, name: str) -> None:
    page.screenshot(path=DOCS / name)


def _check_home(page: Page, demo: DemoStack) -> None:
    """App Home: opening the tab makes the bot publish what is open, fresh after each poll; its
    "List failed syncs" answers in the digest channel, and "Open digest" shows the digest."""
    from playwright.sync_api import expect

    page.select_option("#user-switcher", "U0ADA")
    # Ada takes the seeded digest's first cause and snoozes its second: Home shows both.
    page.locator("#nav-channel-item").click()
    seeded = page.locator("#messages .msg", has=page.locator("[data-action-id=cause_take]")).first
    seeded.locator("[data-action-id=cause_take]").first.click()
    expect(seeded).to_contain_text("is on it", timeout=WAIT_MS)
    seeded.locator("select[data-action-id=cause_snooze]").first.select_option(label="4 hours")
    expect(seeded).to_contain_text("Snoozed by", timeout=WAIT_MS)
    page.locator("#nav-home").click()
    home = page.locator("#home-body .home-view")
    expect(home.locator(".bk-header").first).to_have_text("syncbot: failed Patchworks syncs", timeout=WAIT_MS)
    # The seeded failures are still open (only the outage was resynced): their causes, by flow.
    expect(home.locator(".bk-header", has_text=re.compile(r"^Open causes \([1-9]\d*\)$"))).to_be_visible()
    flows = re.compile("|".join(re.escape(flow.name) for flow in demo.world.flows.values()))
    expect(home.locator(".bk-section", has_text=re.compile(r"\d+ open runs?")).first).to_contain_text(flows)
    expect(home).to_contain_text("Connector health")
    expect(home).to_contain_text(re.compile(r"Patchworks budget: \d+/\d+ requests in the last [\d.]+ s"))
    expect(home).to_contain_text("Last resyncs")
    expect(home).to_contain_text("owner @")
    expect(home).to_contain_text("💤 until")
    # Tall enough to show the whole tab: causes, health, snoozes and the last resyncs.
    page.set_viewport_size({"width": 1280, "height": 1700})
    _shoot(page, "app-home.png")
    page.set_viewport_size({"width": 1280, "height": 860})

    # The bot republishes Home after each poll for whoever opened it lately; the tab follows.
    published = home.get_attribute("data-hash")
    expect(home).not_to_have_attribute("data-hash", published or "", timeout=WAIT_MS)

    # "List failed syncs": a block_actions from the view; the answer waits, only for Ada, in the channel.
    home.get_by_role("button", name="List failed syncs").click()
    channel_item = page.locator("#nav-channel-item")
    expect(channel_item).to_have_class(re.compile(r"\bunread\b"), timeout=WAIT_MS)
    channel_item.click()
    listing = page.locator("#messages .msg.ephemeral", has_text="in the last 24h").last
    expect(listing).to_be_visible(timeout=WAIT_MS)
    expect(listing).to_contain_text("Only visible to you")
    expect(listing.locator("[data-action-id=entry_details]").first).to_be_visible()

    # "Open digest" links to the cause's digest message, which the sandbox shows in place.
    page.locator("#nav-home").click()
    home.locator("[data-action-id=home_open_digest]").first.click()
    expect(page.locator("#channel")).to_be_visible()
    expect(page.locator("#messages .msg.flash .bk-header")).to_contain_text("failed syncs")


def test_demo_end_to_end_in_chromium(demo: DemoStack) -> None:
    from playwright.sync_api import expect, sync_playwright

    started = time.monotonic()
    DOCS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page_errors: list[str] = []
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            page.goto(f"{demo.page_url}/")

            # The first poll posts a digest of the seeded failures.
            channel = page.locator("#messages")
            first = channel.locator(".msg", has=page.locator(".bk-header")).first
            expect(first.locator(".bk-header")).to_contain_text("failed syncs", timeout=WAIT_MS)
            expect(first.locator(".badge")).to_have_text("APP")

            # An outage: one flow fails with one error, run after run, over several polls. It
            # gets one digest of its own, rewritten in place as each poll adds its failures.
            demo.world.start_burst(BURST)
            one_cause = channel.locator(
                ".msg", has=page.locator(".bk-header", has_text=re.compile(r"· 1 cause$"))
            )
            expect(one_cause).to_have_count(1, timeout=WAIT_MS)
            # The same message from now on, whatever its title becomes.
            outage = channel.locator(f".msg[data-ts='{one_cause.get_attribute('data-ts')}']")
            header = outage.locator(".bk-header")
            expect(header).to_contain_text(f"{BURST.count} failed syncs · 1 cause", timeout=WAIT_MS)
            expect(
                outage.locator(".bk-section strong", has_text=f"{BURST.count} failed runs")
            ).to_be_visible()
            error = outage.locator(".bk-section", has_text=OUTAGE_ERROR).first
            expect(error).to_be_visible()
            expect(error.locator("em, strong, code")).to_have_count(0)  # its underscores stay as written
            resync_all = outage.locator("[data-action-id=cause_resync_all]")
            expect(resync_all).to_have_text(f"Resync all {BURST.count}…")
            expect(outage).to_contain_text("Shopify > NetSuite: Sales orders")
            expect(outage).to_contain_text("wait a few minutes, then resync")
            expect(outage.locator(".bk-header + *")).to_contain_text("updated")
            # Each poll that added failures said so once in the thread.
            outage.locator(".replies").click()
            thread = page.locator("#thread")
            expect(thread).to_contain_text(re.compile(r"\+\d+ new failures? since"), timeout=WAIT_MS)
            outage.evaluate("node => node.scrollIntoView({block: 'start'})")
            _shoot(page, "digest.png")
            page.locator("#thread-close").click()

            # Details: a modal with the entry's error lines.
            entry = outage.locator(".bk-section").filter(has_text="Error:").first
            entry_error = re.search(r"Error: (.+)", entry.inner_text())
            assert entry_error is not None
            # An entry is its verbatim section, a context, then its actions row.
            entry_actions = entry.locator("xpath=following-sibling::*[contains(@class, 'bk-actions')][1]")
            entry_actions.locator("[data-action-id=entry_details]").click()
            modal = page.locator(".modal")
            expect(modal).to_contain_text("Error details", timeout=WAIT_MS)
            for word in _words(entry_error.group(1)):
                expect(modal).to_contain_text(word)
            _shoot(page, "details-modal.png")
            modal.locator(".modal-footer").get_by_role("button", name="Close").click()
            expect(modal).to_have_count(0)

            # Resync one entry: Slack's confirm dialog first, then the outcome written in place.
            demo.world.force_outcome(None, "success")
            resync = outage.locator("[data-action-id=entry_resync]").first
            label = resync.get_attribute("aria-label") or ""
            run = re.search(r"run (\d+)", label)
            assert run is not None, label
            resync.click()
            dialog = page.locator("dialog#confirm")
            expect(dialog).to_be_visible()
            expect(dialog).to_contain_text(f"Resync run {run.group(1)}")
            dialog.locator("#confirm-ok").click()
            # When a system of the entry looks broken, the bot asks first (only Ada sees it).
            queued = outage.get_by_text("Resync queued by @ada")
            anyway = page.locator(".msg.ephemeral [data-action-id=entry_resync_anyway]")
            expect(queued.or_(anyway)).to_be_visible(timeout=WAIT_MS)
            if anyway.is_visible():
                anyway.click()
            expect(queued).to_be_visible(timeout=WAIT_MS)
            expect(outage).to_contain_text(re.compile("✅ OK|Failed again"), timeout=WAIT_MS)

            # A read-only user is refused, and told so only to them.
            page.select_option("#user-switcher", "U0VIC")
            outage.locator("[data-action-id=entry_resync]").first.click()
            dialog.locator("#confirm-ok").click()
            refusal = page.locator(".msg.ephemeral", has_text="not allowed to resync")
            expect(refusal).to_be_visible(timeout=WAIT_MS)
            expect(refusal).to_contain_text("Only visible to you")

            # Resync selected: pick three entries, confirm in a modal, see the summary in the thread.
            page.select_option("#user-switcher", "U0ADA")
            expect(refusal).to_have_count(0)  # Vic's ephemeral is not Ada's
            outage.locator(".ms-toggle").click()
            boxes = outage.locator(".menu input[type=checkbox]")
            expect(boxes.first).to_be_visible()
            assert boxes.count() >= 3
            for i in range(3):
                boxes.nth(i).check()
            expect(outage.locator(".ms-toggle .chip")).to_have_count(3)
            outage.locator("[data-action-id=bulk_resync_selected]").click()
            expect(modal).to_contain_text("Resync 3 entries?", timeout=WAIT_MS)
            modal.locator(".modal-footer").get_by_role("button", name="Resync 3").click()
            expect(modal).to_have_count(0, timeout=WAIT_MS)
            outage.locator(".replies").click()
            expect(thread).to_contain_text("Bulk resync by @ada: 3 queued", timeout=WAIT_MS)
            page.locator("#thread-close").click()

            # Resync all N…: every open run of the cause, shown or not, after one confirmation
            # naming the count and the flows; then a job shows its progress in the message.
            expect(resync_all).to_be_visible(timeout=WAIT_MS)
            count = re.search(r"Resync all (\d+)…", resync_all.inner_text())
            assert count is not None
            assert 0 < int(count.group(1)) < BURST.count  # the four resynced above are not open
            outage.evaluate("node => node.scrollIntoView({block: 'start'})")
            resync_all.click()
            expect(modal).to_contain_text(re.compile(r"Resync \d+ entries\?"), timeout=WAIT_MS)
            expect(modal).to_contain_text("Shopify > NetSuite: Sales orders (")
            submit = modal.locator(".modal-footer").get_by_role("button", name=re.compile(r"^Resync \d+$"))
            expect(submit).to_be_visible()
            _shoot(page, "bulk-confirm.png")
            demo.world.config.latency_s = 1.0  # a slow Patchworks, so the job is seen under way
            submit.click()
            expect(modal).to_have_count(0, timeout=WAIT_MS)
            progress = outage.get_by_text(re.compile(r"⏳ Bulk resync by @ada: [1-9]\d*/\d+ queued"))
            expect(progress).to_be_visible(timeout=WAIT_MS)
            expect(outage.locator("[data-action-id=bulk_cancel]")).to_be_visible()
            expect(resync_all).to_have_count(0)  # not twice while the job runs
            outage.evaluate("node => node.scrollIntoView({block: 'start'})")
            _shoot(page, "bulk-progress.png")
            demo.world.config.latency_s = 0.0
            expect(outage).to_contain_text("Bulk resync by @ada finished", timeout=WAIT_MS)
            # The new runs succeed: the cause, then the digest, read as resolved.
            expect(header).to_contain_text("all resolved", timeout=2 * WAIT_MS)
            expect(outage.locator(".bk-section strong", has_text="Resolved")).to_be_visible()
            expect(resync_all).to_have_count(0)
            outage.locator(".replies").click()
            summary = thread.locator(".msg", has_text=re.compile(r"Bulk resync by @ada: \d+ queued")).last
            expect(summary).to_be_visible(timeout=WAIT_MS)
            expect(summary).not_to_contain_text("Bulk resync by @ada: 3 queued")
            summary.scroll_into_view_if_needed()
            outage.evaluate("node => node.scrollIntoView({block: 'start'})")
            _shoot(page, "bulk-summary.png")
            page.locator("#thread-close").click()

            # /failed-syncs lists failures, to the caller only; reading is open to everyone.
            page.select_option("#user-switcher", "U0VIC")
            page.fill("#composer-input", "/failed-syncs")
            page.press("#composer-input", "Enter")
            listing = page.locator(".msg.ephemeral", has_text="in the last 24h")
            expect(listing).to_be_visible(timeout=WAIT_MS)
            expect(listing).to_contain_text("failed syncs")
            expect(listing.locator("[data-action-id=entry_details]").first).to_be_visible()

            _check_mrkdwn_and_menus(page, demo)
            _check_home(page, demo)
            assert page_errors == []
        finally:
            browser.close()
    assert time.monotonic() - started < 90
