"""``windsock login --env NAME``: open the environment's web UI, signed in through IAM.

The client (runtime/client) proves the caller's AWS identity to the environment's web server,
gets a one-time 60 s login token and opens MWAA's sign-in URL form in the browser.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(tree: Any) -> None:
    """Add ``login``."""
    p = tree.command("login", help="Open an environment's web UI, signed in with your AWS identity (IAM)",
                     func=cmd_login)
    p.add_argument("--env", required=True, metavar="NAME", help="environment name (stack Windsock-NAME)")
    p.add_argument("--role", help="sign in as this role (Admin, Op, User, Viewer; default: the strongest you may)")
    p.add_argument("--print", dest="print_only", action="store_true",
                   help="print the one-time link (60 s) instead of opening a browser")


def cmd_login(args: argparse.Namespace) -> int:
    """Mint a login link for the caller and open it (or print it)."""
    import webbrowser

    from runtime.cli.remote import client_errors, make_client

    with client_errors():
        url = make_client(args.env, args.role).web_login_url()
    if args.print_only or not webbrowser.open(url):
        print(url)
        if not args.print_only:
            print("windsock: no browser found; open the link above within 60 s", file=sys.stderr)
        return 0
    print(f"opened the {args.env} web UI in your browser", file=sys.stderr)
    return 0
