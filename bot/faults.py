"""Named crash points for the fault tests.

With SYNCBOT_CRASH_AT=<name> set, the process kills itself with SIGKILL at that point, as an
out-of-memory kill or a lost node would stop it: no cleanup, no flush. With SYNCBOT_CRASH_SIGNAL=TERM
it sends itself SIGTERM instead, as a deploy would, and carries on until the shutdown it started.
SYNCBOT_CRASH_AFTER=<n> fires at the n-th time the point is reached (a bulk job's tenth retry).
Unset, it does nothing.
"""

from __future__ import annotations

import os
import signal

__all__ = ["CRASH_POINTS", "POLL_CRASH_POINTS", "RESYNC_CRASH_POINTS", "crash_point"]

POLL_CRASH_POINTS = ("after_fetch", "after_record", "after_post", "between_posts")
# The steps of one resync: claimed (with its audit line), Patchworks answered the retry, the
# outcome recorded (with its Slack effects), the digest rewritten. "Retry sent" has no point of
# its own: the tests stop the process while Patchworks holds the answer.
RESYNC_CRASH_POINTS = ("resync_claimed", "resync_answered", "resync_recorded", "effect_delivered")
CRASH_POINTS = POLL_CRASH_POINTS + RESYNC_CRASH_POINTS


_reached: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Die here (or start a shutdown here) when SYNCBOT_CRASH_AT names this point."""
    if os.environ.get("SYNCBOT_CRASH_AT") != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] != int(os.environ.get("SYNCBOT_CRASH_AFTER", "1")):
        return
    if os.environ.get("SYNCBOT_CRASH_SIGNAL", "KILL").upper() == "TERM":
        os.kill(os.getpid(), signal.SIGTERM)
    else:
        os.kill(os.getpid(), signal.SIGKILL)
