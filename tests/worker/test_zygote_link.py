"""The fork server's link to its zygote: a batch of fork requests travels in as few messages as the
zygote reads, each request's descriptors with it and in order."""

from __future__ import annotations

import os
import socket

from runtime.worker import zygote
from runtime.worker.forkserver import PASS_AT_ONCE, _ZygoteLink


def _pipe_fds(n: int) -> list[tuple[int, int]]:
    return [os.pipe() for _ in range(n)]


def test_a_batch_goes_in_messages_the_zygote_takes_whole_with_each_requests_descriptors_in_order() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    link = _ZygoteLink(os.getpid(), ours)
    requests = 40
    pipes = _pipe_fds(requests * 2)
    try:
        for i in range(requests):  # two descriptors per request, as a fork request carries
            link.send(b'{"id": %d}\n' % i, [pipes[2 * i][1], pipes[2 * i + 1][1]], now=False)
        assert link.flush()
        assert link.out == []
        messages = []
        theirs.setblocking(False)
        while True:
            try:
                messages.append(zygote._recv_fds(theirs))
            except BlockingIOError:
                break
        # the zygote takes at most PASS_AT_ONCE descriptors per read: no message carries more
        assert [len(fds) for _, fds in messages] == [PASS_AT_ONCE, requests * 2 - PASS_AT_ONCE]
        lines = b"".join(data for data, _ in messages).splitlines()
        assert lines == [b'{"id": %d}' % i for i in range(requests)]
        received = [fd for _, fds in messages for fd in fds]
        for i, fd in enumerate(received):  # each received descriptor is the write end of the pipe sent in its place
            os.write(fd, b"x")
            os.close(fd)
            assert os.read(pipes[i][0], 1) == b"x"
    finally:
        for r, _ in pipes:  # the write ends: the link closed each once it was passed
            os.close(r)
        ours.close()
        theirs.close()


def test_a_request_sent_now_goes_at_once() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    link = _ZygoteLink(os.getpid(), ours)
    (r, w), = _pipe_fds(1)
    try:
        link.send(b'{"id": 1}\n', [w])
        theirs.settimeout(5)
        data, fds = zygote._recv_fds(theirs)
        assert data == b'{"id": 1}\n' and len(fds) == 1
        os.close(fds[0])
    finally:
        os.close(r)
        ours.close()
        theirs.close()
