"""``python -m runtime.worker FD``: a local executor's fork server with its zygote.

The process forks the zygote (:mod:`runtime.worker.zygote`) first, while it is still a bare
interpreter, and only then becomes the fork server (:mod:`runtime.worker.forkserver`, on the
scheduler's socket ``FD``): the two start in parallel, and the zygote, which forks every task
child, never holds SQLAlchemy, the ORM or the fork server's state.
"""

from __future__ import annotations

import os
import signal
import socket
import sys


def main(argv: list[str] | None = None) -> None:
    """Fork the zygote, then serve as the fork server."""
    fd = int((argv or sys.argv[1:])[0])
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the zygote
        from runtime import procs

        ours.close()
        os.close(fd)
        procs.die_with_parent(signal.SIGKILL, expected_parent=parent)
        code = 0
        try:
            from runtime.worker import zygote

            zygote.run(theirs)
        except BaseException:  # noqa: BLE001 - its fork server sees the socket close and starts another
            import traceback

            traceback.print_exc()
            code = 1
        os._exit(code)
    theirs.close()
    from runtime.worker import forkserver

    forkserver.main([str(fd)], zygote=(pid, ours))


if __name__ == "__main__":  # pragma: no cover
    main()
