"""``python -m fastio``: fastio's command line."""

from __future__ import annotations

import argparse

from fastio import demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fastio", description="fastio's command line")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="show what fastio does, with timings")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo.main()


if __name__ == "__main__":
    main()
