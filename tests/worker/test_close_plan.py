"""``procs.close_all``: what a forked task child uses to drop the descriptors of its batch's other tries."""

from __future__ import annotations

import os

from runtime import procs


def _open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_close_all_closes_exactly_the_descriptors_named_whatever_their_order_gaps_and_repeats() -> None:
    pipes = [os.pipe() for _ in range(8)]
    fds = sorted(fd for pair in pipes for fd in pair)
    closed_already = fds[3]
    os.close(closed_already)
    chosen = [fds[9], fds[1], fds[2], closed_already, fds[4], fds[4], fds[10], fds[12], fds[15]]  # gaps, a repeat
    keep = [fd for fd in fds if fd not in chosen]
    try:
        procs.close_all(chosen)
        assert [fd for fd in chosen if _open(fd)] == []
        assert [fd for fd in keep if not _open(fd)] == []
        procs.close_all([])  # nothing to close
    finally:
        for fd in keep:
            os.close(fd)
