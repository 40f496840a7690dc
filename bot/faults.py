"""Named crash points for the fault tests.

With SYNCBOT_CRASH_AT=<name> set, the process kills itself with SIGKILL at that point, as an
out-of-memory kill or a lost node would stop it: no cleanup, no flush. Unset, it does nothing.
"""

from __future__ import annotations

import os
import signal

__all__ = ["CRASH_POINTS", "crash_point"]

CRASH_POINTS = ("after_fetch", "after_record", "after_post", "between_posts")


def crash_point(name: str) -> None:
    """Die here when SYNCBOT_CRASH_AT names this point."""
    if os.environ.get("SYNCBOT_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
