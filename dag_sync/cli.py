"""CLI: ``windsock sync once|run|status`` and ``windsock dags deploy``.

boto3 and the sync modules are imported inside handlers so ``windsock --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from runtime.errors import UserError


def register(tree: Any) -> None:
    """Add the ``sync`` group and ``dags deploy`` to the command tree."""
    sync = tree.group("sync", help="Sync DAGs, plugins and requirements from S3 (as MWAA does)")
    _source_flags(sync.add_parser("once", help="Sync once: DAG folder, plugins.zip, requirements.txt"))
    sync.choices["once"].add_argument("--only", choices=["dags", "plugins", "requirements"], action="append",
                                      help="Sync only this part (repeatable)")
    sync.choices["once"].set_defaults(func=_once)
    _source_flags(sync.add_parser("run", help="Keep syncing: SQS events plus a slow full reconcile"))
    sync.choices["run"].set_defaults(func=_run)
    status = sync.add_parser("status", help="Show the last sync of each part and the last errors")
    status.add_argument("-o", "--output", choices=["table", "json"], default="table")
    status.set_defaults(func=_status)
    _register_deploy(tree.group("dags", help="Manage DAGs"))


def _source_flags(parser: argparse.ArgumentParser) -> None:
    """Flags that override where ``sync once|run`` reads from."""
    parser.add_argument("--bucket", help="S3 bucket (default: $WINDSOCK_S3_BUCKET)")
    parser.add_argument("--prefix", help="Key prefix of the environment (default: $WINDSOCK_S3_PREFIX)")
    parser.add_argument("--queue-url", help="SQS queue of S3 events (default: $WINDSOCK_SYNC_QUEUE_URL)")
    parser.add_argument("--topic-arn", help="SNS topic of S3 events; a private queue is made "
                                            "(default: $WINDSOCK_SYNC_TOPIC_ARN)")


def _register_deploy(dags: Any) -> None:
    """Add ``dags deploy`` to the ``dags`` group."""
    deploy = dags.add_parser("deploy", help="Upload a local DAG folder to S3 (only what changed)")
    deploy.add_argument("local_dir", metavar="LOCAL_DIR", help="Local folder with DAG files")
    deploy.add_argument("--bucket", required=True, help="S3 bucket of the environment")
    deploy.add_argument("--prefix", default="", help="Key prefix of the environment (default: none)")
    deploy.add_argument("--dags-path", default="dags", help="DAG folder under the prefix (default: dags)")
    deploy.add_argument("--delete", action="store_true", help="Delete objects that have no local file")
    deploy.add_argument("--dry-run", action="store_true", help="Print what would change, change nothing")
    deploy.set_defaults(func=_deploy)


def _config(args: argparse.Namespace) -> Any:
    """SyncConfig from the environment, with the command's flags on top."""
    from dag_sync.config import SyncConfig

    env = dict(os.environ)
    for flag, var in (("bucket", "WINDSOCK_S3_BUCKET"), ("prefix", "WINDSOCK_S3_PREFIX"),
                      ("queue_url", "WINDSOCK_SYNC_QUEUE_URL"), ("topic_arn", "WINDSOCK_SYNC_TOPIC_ARN")):
        if getattr(args, flag, None) is not None:
            env[var] = getattr(args, flag)
    if not env.get("WINDSOCK_S3_BUCKET"):
        raise UserError("no bucket: pass --bucket or set WINDSOCK_S3_BUCKET")
    return SyncConfig.from_env(env)


def _once(args: argparse.Namespace) -> int:
    """Run one sync and print one line per part."""
    from dag_sync.syncer import PARTS, Syncer

    syncer = Syncer(_config(args))
    lines = syncer.sync(tuple(args.only or PARTS))
    for line in lines:
        print(line)
    return 1 if any(": FAILED" in line for line in lines) else 0


def _run(args: argparse.Namespace) -> int:
    """Sync in the foreground until Ctrl-C."""
    import logging

    from dag_sync.entry import open_source
    from dag_sync.loop import SyncLoop
    from dag_sync.syncer import Syncer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cfg = _config(args)
    syncer = Syncer(cfg)
    for line in syncer.sync():
        print(line, flush=True)
    source = open_source(cfg)
    print(f"syncing {cfg.describe()} -> {cfg.dags_folder} "
          f"({f'events from {source.queue_url}' if source else 'no queue'}; "
          f"full reconcile every {cfg.reconcile_seconds:g} s); Ctrl-C stops", flush=True)
    try:
        SyncLoop(syncer, source).run()
    finally:
        if source is not None:
            source.close()
    return 0


def _status(args: argparse.Namespace) -> int:
    """Print the status file (table or JSON)."""
    from dag_sync.status import read_status
    from runtime.settings import Settings

    home = Settings.load().home
    data = read_status(home)
    if args.output == "json":
        print(json.dumps(data, indent=2, sort_keys=True))
        return 0
    if not data:
        print(f"no sync has run yet in {home}")
        return 0
    for section in ("dags", "plugins", "requirements", "startup", "loop"):
        if section in data:
            _print_section(section, data[section])
    return 0 if all(s.get("state") != "failed" for s in data.values() if isinstance(s, dict)) else 1


def _print_section(name: str, values: dict[str, Any]) -> None:
    """Print one status section: state, fields, then the error and pip's output tail."""
    skipped = values.get("skipped") or []
    note = f" ({len(skipped)} key(s) skipped)" if skipped else ""
    print(f"[{name}] {values.get('state', '?')}{note}")
    for key in sorted(values):
        if key in ("state", "error") or values[key] in ([], None) and key in ("skipped", "sources", "providers"):
            continue
        if isinstance(values[key], list):
            print(f"  {key}:")
            for item in values[key]:
                print(f"    - {item}")
            continue
        print(f"  {key}: {_show(key, values[key])}")
    error = values.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else error
        print(f"  error: {message}")
        output = error.get("output", "") if isinstance(error, dict) else ""
        for line in output.strip().splitlines()[-15:]:
            print(f"    | {line}")


def _show(key: str, value: Any) -> str:
    """A status value for humans (timestamps as UTC)."""
    if key.endswith("_at") and isinstance(value, (int, float)):
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(value))
    return str(value)


def _deploy(args: argparse.Namespace) -> int:
    """Upload changed DAG files; print each action."""
    from dag_sync import s3 as s3io
    from dag_sync.config import SyncConfig
    from dag_sync.deploy import deploy
    from dag_sync.errors import S3UnreachableError

    root = Path(args.local_dir).expanduser()
    if not root.is_dir():
        raise UserError(f"{args.local_dir}: not a directory")
    prefix = "/".join(p.strip("/") for p in (args.prefix, args.dags_path) if p.strip("/"))
    cfg = SyncConfig.from_env({**os.environ, "WINDSOCK_S3_BUCKET": args.bucket})
    try:
        deploy(s3io.client(cfg), root, args.bucket, f"{prefix}/" if prefix else "", args.delete, args.dry_run)
    except S3UnreachableError as exc:
        raise UserError(str(exc)) from None
    sys.stdout.flush()
    return 0
