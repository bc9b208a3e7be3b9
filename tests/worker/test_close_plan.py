"""``procs.close_plan``: how a forked task child drops the descriptors of its batch's other tries (the zygote
works the plan out before its forks; the child calls ``os.closerange`` per entry)."""

from __future__ import annotations

import os

from runtime import procs


def _open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _close(fds: list[int]) -> None:
    for low, high in procs.close_plan(fds):
        os.closerange(low, high)


def test_close_plan_closes_exactly_the_descriptors_named_whatever_their_order_gaps_and_repeats() -> None:
    pipes = [os.pipe() for _ in range(8)]
    fds = sorted(fd for pair in pipes for fd in pair)
    closed_already = fds[3]
    os.close(closed_already)
    chosen = [fds[9], fds[1], fds[2], closed_already, fds[4], fds[4], fds[10], fds[12], fds[15]]  # gaps, a repeat
    keep = [fd for fd in fds if fd not in chosen]
    try:
        plan = procs.close_plan(chosen)
        assert sorted(fd for low, high in plan for fd in range(low, high)) == sorted(set(chosen))  # no more, no less
        assert all(high not in (other for other, _ in plan) for _, high in plan)  # a run of numbers is one call
        _close(chosen)
        assert [fd for fd in chosen if _open(fd)] == []
        assert [fd for fd in keep if not _open(fd)] == []
        assert procs.close_plan([]) == ()  # nothing to close
    finally:
        for fd in keep:
            os.close(fd)
