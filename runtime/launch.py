"""``python -P .../runtime/launch.py MODULE ARGS...``: run one of Windsock's modules as ``python -m MODULE
ARGS...`` would, from the package this file belongs to.

Windsock starts its own processes (fork server, zygote, DAG processor, triggerer, web server, the web
UI's CLI commands) this way (:func:`runtime.procs.python_module`) rather than with ``-m``: ``-m`` puts the
working folder first on the module path, so a scheduler started in a folder that holds a ``runtime``
package of its own (a project's, another Windsock checkout) would start its fork server on that
package. ``-P`` keeps the working folder and this file's folder off the path; this file puts its
package's folder first, so a child runs exactly the code its parent runs. It imports nothing of
Windsock's before that.
"""

import os
import runpy
import sys


def main() -> None:
    """Put this package's folder first on the path and run ``sys.argv[1]`` as ``__main__``."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    del sys.argv[0]  # as after ``-m``: argv[0] becomes the module's file (run_module's alter_sys), the rest stays
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
