"""Worker processes of a writer (ingest preparation, e5 embedding) that never outlive it."""

from __future__ import annotations

import os


def die_with_parent(parent_pid: int) -> None:
    """In a worker: ask Linux to kill this process when its writer dies (even by kill -9), rather than wait forever
    for work that will not come; exit at once if the writer is already gone."""
    try:
        import ctypes
        import signal

        PR_SET_PDEATHSIG = 1  # noqa: N806 - <linux/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: a worker then ends when its writer's pipe closes, if ever
        pass
    if os.getppid() != parent_pid:  # the writer died before the signal was asked for
        os._exit(0)
