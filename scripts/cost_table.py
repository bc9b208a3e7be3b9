"""Price the synthesized templates and keep the README's idle-cost table in step with them.

python scripts/cost_table.py            # print the table
python scripts/cost_table.py --write    # rewrite the README block
python scripts/cost_table.py --check    # exit 1 if the README block is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cdk.cost_table import README, generate, readme_block, write_readme  # noqa: E402


def main() -> int:
    """Print, write or check the cost table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the README block")
    mode.add_argument("--check", action="store_true", help="fail if the README block is stale")
    args = parser.parse_args()
    block = generate()
    if args.write:
        print("README.md cost table", "updated" if write_readme(block) else "already up to date")
    elif args.check:
        if readme_block(README.read_text()) != block:
            print("README.md cost table is stale: run python scripts/cost_table.py --write", file=sys.stderr)
            return 1
    else:
        print(block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
