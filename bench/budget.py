"""The engine issue's burst: 30 `/failed-syncs 15d`, 10 Details and 1 Resync at the same moment.

Measured against `syncbot run` (a real process, HTTP mode, PATCHWORKS_REQUESTS_PER_MINUTE=240)
and, in the same run, against the bot as it was before the budget work (the baseline: commit
3619e32, the last before 41e17fc "One Patchworks budget with lanes", extracted with `git archive`
and run as its own `syncbot run`: a first-come token-bucket pacer, 24 at once then 4 a second,
and every `/failed-syncs` read from Patchworks' failed-run report). Each bot gets a fresh
Patchworks simulator and local Slack (same seed, same data) in a child process.

The simulator limits at 40 requests per sliding 10 s, as the issue measured Patchworks ("40
requests per 10 s"); `--window 60` uses the simulator's own limiter instead, 240 per sliding
minute. The data: some hundreds of failed runs over the report's 15 days, a hundred of them older
than the bot's first poll window (48 h), so a 15-day listing reaches past what the first poll read.

Each run: the bot starts and polls (a digest is posted: the Details and Resync buttons are taken
from it), `/failed-syncs help` warms Bolt up, then new failures are added and the burst is fired
the moment the next scheduled poll sends its first Patchworks request, so Patchworks is busy with
the bot's own background work too. The burst is signed and sent as Slack sends it (the sandbox's
Desk), each request on its own connection: N people typing `/failed-syncs 15d`, M people opening
Details on digest entries, and an allowed user clicking Resync on an entry that may be resynced.

Measured from the simulator's request log (every request to /api/v1 with its arrival time and
status) and the local Slack's call log:
  click → retry   from sending the Resync click to the POST /flow-runs/{id}/retry that Patchworks
                  admitted (not answered 429)
  list requests per /failed-syncs
                  GET /flow-runs whose filter[started_after] is more than 3 days back (only a
                  15-day listing or its backfill asks that; polls and health reads ask for hours),
                  sent after the burst, over N
  answered        commands answered through their response_url within 60 s (an answer that says
                  Patchworks could not be reached counts as not answered); Details modals showing
                  the run (the "Loading…" placeholder does not)
  429             answers of 429 the simulator gave the bot from the burst on

    python bench/budget.py                  # the issue's burst, Patchworks at 40 per 10 s
    python bench/budget.py --window 60      # Patchworks at 240 per sliding minute
    python bench/budget.py --quick          # 10 commands and 3 Details, no baseline
    python bench/budget.py --no-baseline --new 4000 --after-poll 3.5
        # a poll of 40 pages has spent the 10 s window when the burst comes (no baseline: the
        # baseline's 15-day listing would read 42 pages per command)
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from _client import buttons, fire, post, recording
from _harness import (
    ADMIN,
    PROBLEM,
    Bot,
    Hit,
    RequestLog,
    add_baseline,
    answer_commands,
    arguments,
    baseline_tree,
    blur,
    child,
    row,
    sandbox,
    settings,
    simulator,
    until,
    until_quiet,
)

CHANNEL = "C0BUDGET"
WARM_UP_USER = "U0VIC"
RPM = 240
BASELINE_COMMIT = "3619e32"  # the last commit before 41e17fc "One Patchworks budget with lanes"
POLL_SECONDS = 15
ANSWER_WITHIN = 60.0  # the issue's "no answer within 60 s"
# After the answers, the bench waits this long at most for the bot's Patchworks traffic to end
# (a baseline still reading pages for commands it has not answered), to count what they cost.
COST_CAP = 90.0
QUIET = 2.0  # seconds without a Patchworks request that mean the bot is done
FAR_BACK_S = 3 * 86_400  # a list request reaching further back than this is a 15-day listing's
# A failure reason that points at no system being down, so derived health stays operational and
# the Resync click goes through to the retry (a broken system makes the bot ask first).
NEUTRAL = "Validation failed: the price field must be a positive number"
# A modal that says it is still loading (the placeholder, or a first paint waiting for more).
LOADING = re.compile(r"\b[Ll]oading\b")
# How the bot says a listing failed (bot/handlers/commands.py, bot/handlers/_context.py).
ERROR_ANSWER = re.compile(r"^(Patchworks could not be reached|Something went wrong)")


@dataclass(frozen=True)
class Shape:
    """The burst and the data it meets."""

    commands: int = 30
    details: int = 10
    recent: int = 50  # failed runs of the last day (the simulator's seed)
    older: int = 100  # failed runs 2 to 14.5 days old: only a 15-day listing reaches them
    new: int = 140  # failed runs added right before the poll the burst meets


# -- the sandbox (simulator and local Slack) in a child process ----------------------------------


def _sandbox(window_s: float, per_window: int, shape: Shape, conn: Connection) -> None:
    from blocks.ids import Action, Command
    from bot.patchworks.health import classify
    from bot.patchworks.models import Health, systems_in
    from syncbot_sandbox.simulator import limits
    from syncbot_sandbox.simulator.records import FAILED, RunQuery
    from syncbot_sandbox.store import DEFAULT_USERS, User, Workspace

    # The simulator counts a sliding window of WINDOW_S seconds (60 in the sandbox); the issue's
    # Patchworks counted 40 requests per 10 s.
    limits.WINDOW_S = window_s
    people = [
        User(f"U0BUDGET{i:03d}", f"person{i}", f"Person {i}") for i in range(shape.commands + shape.details)
    ]
    workspace = Workspace(channels={CHANNEL: "bench-budget"}, users=[*DEFAULT_USERS, *people])
    sim = simulator(shape.recent, per_window)
    world = sim.state.world
    rng = random.Random(11)
    for _ in range(shape.older):
        world.add_failures(1, minutes_ago=rng.uniform(2.1, 14.5) * 1440)

    # The run to resync: a fresh failure of a flow none of whose systems looks broken in the last
    # hour, with a reason that allows a resync, so the click goes on to the retry.
    now = world.now()
    broken: set[str] = set()
    for run in world.list_runs(RunQuery(statuses=FAILED, started_after_ms=int((now - 4800) * 1000))):
        for line in run.issue_logs:
            if classify(line.message) is not Health.OPERATIONAL:
                step = line.step.name if line.step is not None else None
                broken.update(systems_in(step, line.message), run.flow.systems)
    flows = sorted((f for f in world.flows.values() if f.is_enabled), key=lambda f: f.id)
    flow = next((f for f in flows if not broken & set(f.systems)), flows[0])
    target = world.add_failures(1, flow_id=flow.id, minutes_ago=90, error=NEUTRAL)[0]

    log = RequestLog(sim)

    def on_screen(action: str) -> dict[int, tuple[str, str, dict[str, Any]]]:
        """Run id: (message ts, block id, button) of every button with this action in the channel."""
        found = {}
        for message in list(workspace.channel(CHANNEL).messages.values()):
            for block_id, element in buttons(message.blocks, action):
                found[int(json.loads(str(element["value"]))["run"])] = (message.ts, block_id, element)
        return found

    # The digest's buttons as people saw them after the first poll: a later poll may rewrite a
    # digest (an entry moving into "+N more") while the burst is built, and a click still sends
    # the button that was on the screen.
    seen_buttons: dict[str, dict[int, tuple[str, str, dict[str, Any]]]] = {}

    def digest(timeout: float) -> tuple[list[int], bool]:
        """Once the digest shows the target, and a quiet moment: the runs of its Details
        buttons, and whether it shows the target's Resync."""
        until(lambda: target in on_screen(Action.RESYNC), timeout, 0.1)
        until_quiet(lambda: (len(workspace.calls()), len(log.hits)), lambda _: 1.5, 20)
        seen_buttons.update(details=on_screen(Action.DETAILS), resync=on_screen(Action.RESYNC))
        return sorted(set(seen_buttons["details"]) - {target}), target in seen_buttons["resync"]

    async def signed(app_url: str, specs: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
        """Signed requests for (kind, user, what): a command's text, or a button's run id."""
        async with recording(workspace, app_url, box.slack) as (desk, captured):
            for kind, user, what in specs:
                if kind == "command":
                    await desk.command(user, CHANNEL, Command.FAILED_SYNCS, what)
                else:
                    ts, block_id, element = seen_buttons[kind][int(what)]
                    await desk.send_payload(desk._message_action(user, CHANNEL, ts, block_id, element))
        built = []
        for (kind, user, what), (body, headers) in zip(specs, captured, strict=True):
            fields = dict(parse_qsl(body.decode()))
            payload = json.loads(fields["payload"]) if "payload" in fields else fields
            built.append(
                {
                    "kind": kind,
                    "user": user,
                    "what": what,
                    "body": body,
                    "headers": headers,
                    "token": str(payload["response_url"]).rsplit("/", 1)[1],
                    "trigger": payload.get("trigger_id"),
                }
            )
        return built

    def build(
        app_url: str, specs: list[tuple[str, str, str]], mark: int | None, timeout: float, delay: float
    ) -> tuple[float | None, list[dict[str, Any]]]:
        """Signed requests, built `delay` s after the bot sent a list request after `mark` (a
        trigger_id lives 3 s), so sent while that poll is in flight; when that request came."""
        seen = None
        if mark is not None:
            seen = until(
                lambda: next((h.at for h in log.hits[mark:] if h.path.endswith("/flow-runs")), None),
                timeout,
                0.005,
            )
        if seen is not None:
            time.sleep(max(0.0, seen + delay - time.time()))
        return seen, asyncio.run(signed(app_url, specs))

    def inject(count: int) -> int:
        """New failures now; the request log's length."""
        world.add_failures(count, error=NEUTRAL)
        return len(log.hits)

    def modals(requests: list[dict[str, Any]]) -> dict[str, tuple[float | None, float | None, bool]]:
        """Per Details click: when its modal first showed the run (the placeholder, one "Loading…"
        section, does not), when it was last painted, and whether it still says it is loading."""
        paints = [c for c in workspace.calls() if c.method in ("views.open", "views.update")]
        found: dict[str, tuple[float | None, float | None, bool]] = {}
        for request in requests:
            if request["kind"] != "details":
                continue
            stack = workspace.modals.get(request["user"])
            view_id = stack[0].id if stack else None
            mine = [
                (c.at, json.dumps(c.args.get("view")), len((c.args.get("view") or {}).get("blocks") or []))
                for c in paints
                if c.status == 200
                and not c.error
                and (c.args.get("trigger_id") == request["trigger"] or c.args.get("view_id") == view_id)
            ]
            shown = next((at for at, view, blocks in mine if blocks > 1 and request["what"] in view), None)
            last = mine[-1] if mine else None
            found[request["user"]] = (
                shown,
                last[0] if last else None,
                last is None or LOADING.search(last[1]) is not None,
            )
        return found

    def observe(t0: float, requests: list[dict[str, Any]], cap: float) -> dict[str, Any]:
        """Wait for every answer, then for Patchworks to go quiet (at most until t0 + cap)."""
        tokens = {r["token"] for r in requests if r["kind"] != "details"}
        answers: dict[str, tuple[float, str]] = {}
        while time.time() < t0 + cap:
            for call in workspace.calls("response_url"):
                if call.token in tokens and call.token not in answers and call.status == 200:
                    answers[str(call.token)] = (call.at, str(call.args.get("text") or ""))
            painted = modals(requests).values()
            done = len(answers) == len(tokens) and not any(loading for _, _, loading in painted)
            last = log.hits[-1].at if log.hits else 0.0
            if done and time.time() - last >= QUIET:
                break
            time.sleep(0.05)
        opened = [f"{c.error}" for c in workspace.calls("views.open") if c.error]
        return {"answers": answers, "modals": modals(requests), "open_errors": opened}

    with sandbox(log, workspace=workspace) as box:
        conn.send((box.sims[0], box.slack, target))
        answer_commands(
            conn,
            {
                "digest": digest,
                "build": build,
                "inject": inject,
                "observe": observe,
                "log": lambda: list(log.hits),
            },
        )


# -- one measured burst ----------------------------------------------------------------------------


@dataclass
class Figures:
    """What one bot did with the burst."""

    label: str
    commands: int
    details: int
    click_to_retry: float | None = None
    click_to_answer: float | None = None
    click_to_read: float | None = None  # to the first read of the clicked run (the re-check)
    resync_answer: str = ""
    far_list_requests: int = 0
    answered: list[float] = field(default_factory=list)  # seconds after the burst, answers in 60 s
    error_answers: list[str] = field(default_factory=list)
    shown: list[float] = field(default_factory=list)  # Details modals showing the run, within 60 s
    painted: list[float] = field(default_factory=list)  # when each modal was last painted
    loading: int = 0  # modals still saying they are loading something at the end
    open_errors: list[str] = field(default_factory=list)
    limited: int = 0  # 429s from the burst on
    limited_lists: int = 0  # of them, 15-day list requests
    poll_lists: list[float] = field(default_factory=list)  # the poll's list requests, s from the burst
    limited_before: int = 0
    requests: dict[str, int] = field(default_factory=dict)  # by kind, from the burst on
    acks: dict[int, int] = field(default_factory=dict)  # HTTP status of the burst's acks
    observed: float = 0.0
    after_poll: float = 0.0  # the burst was sent this long after the poll's first request
    problems: list[str] = field(default_factory=list)
    click_place: int = 0  # the Resync click was the burst's request number this
    sample_answer: str = ""  # the text of one /failed-syncs answer

    @property
    def per_command(self) -> float:
        return self.far_list_requests / self.commands


def _kind(hit: Hit, t0: float) -> str:
    if hit.method == "POST":
        return "retry"
    if hit.path.endswith("/flow-runs"):
        after = hit.query.get("filter[started_after]", ["0"])[0]
        return "list, 15-day" if int(after) / 1000 < t0 - FAR_BACK_S else "list, poll or health"
    if hit.path.endswith("/flow-run-logs"):
        return "run logs"
    return "run" if "/flow-runs/" in hit.path else "flow"


def measure(
    label: str, src: Path | None, window_s: float, per_window: int, shape: Shape, after_poll: float
) -> Figures:
    """Start a sandbox and the bot, fire the burst while a poll is in flight, and measure."""
    with child(_sandbox, window_s, per_window, shape) as box, tempfile.TemporaryDirectory() as tmp:
        sim_url, slack_url, target = box.answer()
        name = "baseline" if src else "syncbot"
        env = settings(
            CHANNEL,
            sim_url,
            slack_url,
            RPM,
            Path(tmp) / f"{name}.db",
            SYNCBOT_RESYNC_USERS=ADMIN,
            SYNCBOT_POLL_SECONDS=str(POLL_SECONDS),
            SYNCBOT_LOOKBACK_HOURS="48",
            LOG_LEVEL="INFO",
        )
        bot = Bot(label, env, Path(tmp) / f"{name}.log", src=src)
        try:
            bot.start()
            bot.wait_ready()
            entries, target_shown = box.ask("digest", 60)
            if not target_shown:
                raise RuntimeError(f"{label}: the digest shows no Resync button for run {target}")
            if len(entries) < shape.details:
                raise RuntimeError(f"{label}: the digest shows {len(entries)} entries, not {shape.details}")
            # Warm-up, not measured: Bolt's first request calls auth.test.
            _, warm = box.ask("build", bot.events_url, [("command", WARM_UP_USER, "help")], None, 0, 0)
            fire(bot.port, [post(bot.port, warm[0]["body"], warm[0]["headers"])])
            mark = box.ask("inject", shape.new)
            specs = [("command", f"U0BUDGET{i:03d}", "15d") for i in range(shape.commands)]
            specs += [
                ("details", f"U0BUDGET{shape.commands + i:03d}", str(run))
                for i, run in enumerate(entries[: shape.details])
            ]
            specs.append(("resync", ADMIN, str(target)))
            random.Random(5).shuffle(specs)  # the click lands somewhere inside the burst
            poll_started, built = box.ask("build", bot.events_url, specs, mark, POLL_SECONDS + 30, after_poll)
            if poll_started is None:
                raise RuntimeError(f"{label}: no poll after the new failures")
            sent = fire(bot.port, [post(bot.port, r["body"], r["headers"]) for r in built])
            t0 = min(ack.sent for ack in sent)
            unsigned = [{k: v for k, v in r.items() if k != "body"} for r in built]
            seen = box.ask("observe", t0, unsigned, COST_CAP, timeout=COST_CAP + 60)
            hits: list[Hit] = box.ask("log")
        except RuntimeError:
            if bot.log.exists():
                lines = bot.text().splitlines()
                errors = [line for line in lines if re.search(r"\b(ERROR|CRITICAL)\b", line)][:10]
                print(f"{label} logged:", *errors, "...", *lines[-15:], sep="\n", file=sys.stderr)
            raise
        finally:
            bot.stop()
        problems = [line for line in bot.text().splitlines() if PROBLEM.search(line)]
        figures = Figures(label, shape.commands, shape.details, problems=problems)
    figures.after_poll = t0 - poll_started
    figures.observed = max([h.at for h in hits] + [time.time()]) - t0
    for ack in sent:
        figures.acks[ack.status] = figures.acks.get(ack.status, 0) + 1
    figures.click_place = next(i for i, r in enumerate(built, 1) if r["kind"] == "resync")
    click = sent[figures.click_place - 1].sent
    retries = [h.at for h in hits if h.retried_run == target and h.status != 429]
    figures.click_to_retry = retries[0] - click if retries else None
    reads = [h.at for h in hits if h.at >= click and h.one_run == target]
    figures.click_to_read = reads[0] - click if reads else None
    answers: dict[str, tuple[float, str]] = seen["answers"]
    for request in built:
        answer = answers.get(request["token"])
        if request["kind"] == "resync" and answer is not None:
            figures.click_to_answer, figures.resync_answer = answer[0] - click, answer[1]
        elif request["kind"] == "command" and answer is not None:
            if ERROR_ANSWER.search(answer[1]):
                figures.error_answers.append(answer[1])
            elif answer[0] - t0 <= ANSWER_WITHIN:
                figures.answered.append(answer[0] - t0)
                figures.sample_answer = figures.sample_answer or answer[1]
    for shown, last, loading in seen["modals"].values():
        if shown is not None and shown - t0 <= ANSWER_WITHIN:
            figures.shown.append(shown - t0)
        if last is not None:
            figures.painted.append(last - t0)
        figures.loading += loading
    figures.open_errors = seen["open_errors"]
    for hit in hits:
        if hit.at < t0:
            figures.limited_before += hit.status == 429
            continue
        kind = _kind(hit, t0)
        figures.requests[kind] = figures.requests.get(kind, 0) + 1
        figures.far_list_requests += kind == "list, 15-day"
        figures.limited += hit.status == 429
        figures.limited_lists += hit.status == 429 and kind == "list, 15-day"
    figures.poll_lists = [
        h.at - t0 for h in hits if h.at >= poll_started and _kind(h, t0) == "list, poll or health"
    ]
    return figures


# -- the table -------------------------------------------------------------------------------------


def _ratio(baseline: float | None, ours: float | None, *, better_low: bool = True) -> str:
    if baseline is None or ours is None:
        return "—"
    low, high = (ours, baseline) if better_low else (baseline, ours)
    if low <= 0:
        return "inf" if high > 0 else "1x"
    return f"{high / low:.0f}x" if high / low >= 10 else f"{high / low:.1f}x"


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def _spread(values: list[float]) -> str:
    if not values:
        return "—"
    return f"p50 {statistics.median(values):.1f} s, max {max(values):.1f} s"


def report(ours: Figures, base: Figures | None, args: Any, shape: Shape) -> None:
    rows: list[tuple[str, str, str, str, str]] = [
        (
            "click → retry reached Patchworks",
            _seconds(ours.click_to_retry),
            _seconds(base.click_to_retry) if base else "",
            _ratio(base.click_to_retry, ours.click_to_retry) if base else "",
            "≤ 3 s",
        ),
        (
            "Patchworks list requests per /failed-syncs",
            f"{ours.per_command:.2f}",
            f"{base.per_command:.2f}" if base else "",
            _ratio(base.per_command, ours.per_command) if base else "",
            "≤ 0.2",
        ),
        (
            "/failed-syncs answered within 60 s",
            f"{len(ours.answered)}/{ours.commands}",
            f"{len(base.answered)}/{base.commands}" if base else "",
            "",
            f"{shape.commands}/{shape.commands}",
        ),
        (
            "Details showing the run within 60 s",
            f"{len(ours.shown)}/{ours.details}",
            f"{len(base.shown)}/{base.details}" if base else "",
            "",
            "",
        ),
        (
            "answers of 429 from Patchworks",
            str(ours.limited),
            str(base.limited) if base else "",
            _ratio(base.limited, ours.limited) if base else "",
            "0",
        ),
    ]
    limit = f"{args.per_window} per sliding {args.window:g} s" + (
        " (the issue's Patchworks)" if args.window == 10 else " (the simulator's own limiter)"
    )
    print(
        f"burst: {shape.commands} x `/failed-syncs 15d` ({shape.commands} people), {shape.details} Details "
        f"({shape.details} people) and 1 Resync (an allowed user), signed, at once, each on its own "
        "connection, when a scheduled poll sends its first request"
    )
    print(
        f"data: {shape.recent + shape.older + shape.new + 1} failed runs in 15 days ({shape.older} of them "
        f"2-14.5 days old, {shape.new} added right before that poll); Patchworks (simulator) limit {limit}; "
        f"PATCHWORKS_REQUESTS_PER_MINUTE={RPM}"
    )
    if base is not None:
        print(
            f"baseline: syncbot at {args.baseline} (the last commit before the budget work), its own "
            "`syncbot run` on the same data: a first-come token-bucket pacer (24 at once, then 4 a second, "
            "one queue for everything) and every /failed-syncs read from Patchworks' report"
        )
    print()
    widths = (-44, 10, 10, 7, 8)
    print(row(widths, "", "syncbot", "baseline", "ratio", "target"))
    for cells in rows:
        print(row(widths, *cells))
    print()
    for figures in (ours, base):
        if figures is None:
            continue
        spent = ", ".join(f"{kind} {count}" for kind, count in sorted(figures.requests.items()))
        print(f"{figures.label}:")
        print(f"  /failed-syncs answered {_spread(figures.answered)}, e.g. {figures.sample_answer[:60]!r}")
        print(
            f"  Details showed the run {_spread(figures.shown)}; last painted {_spread(figures.painted)}; "
            f"{figures.loading} still saying loading at the end"
        )
        print(
            f"  Resync click (request {figures.click_place} of {figures.commands + figures.details + 1}) "
            f"re-read the run after {_seconds(figures.click_to_read)}, answered after "
            f"{_seconds(figures.click_to_answer)}: {figures.resync_answer[:100]!r}"
        )
        print(
            f"  Patchworks requests in the {figures.observed:.0f} s from the burst: {spent}; 429s before "
            f"the burst {figures.limited_before}; 15-day list requests answered 429 {figures.limited_lists}"
        )
        polled = ", ".join(f"{at:+.2f}" for at in figures.poll_lists[:12])
        print(
            f"  sent {figures.after_poll:.2f} s after the poll's first request; the poll's (and health "
            f"reads') list requests at s from the burst: {polled}"
        )
        print(f"  acks: {dict(sorted(figures.acks.items()))}")
        if figures.error_answers:
            print(
                f"  {len(figures.error_answers)} command(s) answered with an error: "
                f"{figures.error_answers[0][:120]!r}"
            )
        if figures.open_errors:
            print(f"  views.open failed: {sorted(set(figures.open_errors))}")
        if figures.problems:
            # One line per kind of message, the first five.
            messages = list(dict.fromkeys(blur(line) for line in figures.problems))
            print(f"  {len(figures.problems)} warning/error line(s) logged, {len(messages)} kind(s):")
            for line in messages[:5]:
                print(f"    {line}")
    print(
        f"(cpus {os.cpu_count()}; answers counted within {ANSWER_WITHIN:.0f} s of the burst; Patchworks "
        "requests until it was quiet)"
    )


def main() -> None:
    """Measure the burst against today's bot and the baseline; print the table."""
    parser = arguments(__doc__)
    parser.add_argument(
        "--window", type=float, default=10, help="the simulator's sliding window in seconds (10 or 60)"
    )
    add_baseline(parser, BASELINE_COMMIT, "measure today's bot only")
    parser.add_argument("--quick", action="store_true", help="10 commands and 3 Details, no baseline")
    parser.add_argument(
        "--new", type=int, default=Shape.new, help="failed runs added right before the poll the burst meets"
    )
    parser.add_argument(
        "--after-poll",
        type=float,
        default=0.0,
        help="send the burst this long after the poll's first request",
    )
    parser.add_argument("--older", type=int, default=Shape.older, help="failed runs 2 to 14.5 days old")
    args = parser.parse_args()
    args.per_window = round(RPM * args.window / 60)
    shape = Shape(older=args.older, new=args.new)
    if args.quick:
        shape = Shape(commands=10, details=3, older=args.older, new=args.new)
    ours = measure("syncbot (today)", None, args.window, args.per_window, shape, args.after_poll)
    base = None
    if not (args.quick or args.no_baseline):
        with baseline_tree(args.baseline) as src:
            label = f"baseline ({args.baseline})"
            base = measure(label, src, args.window, args.per_window, shape, args.after_poll)
    report(ours, base, args, shape)


if __name__ == "__main__":
    main()
