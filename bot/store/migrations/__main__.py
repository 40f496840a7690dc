"""`python -m bot.store.migrations revision -m "what changes"`: write the next migration."""

from __future__ import annotations

import argparse

from bot.store.migrations import new_revision


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.store.migrations")
    commands = parser.add_subparsers(dest="command", required=True)
    revision = commands.add_parser("revision", help="write the next revision from bot/store/tables.py")
    revision.add_argument("-m", "--message", required=True, help="what the revision changes")
    args = parser.parse_args(argv)
    path = new_revision(args.message)
    print(f"wrote {path}: review it, then `ruff format` it")


if __name__ == "__main__":
    main()
