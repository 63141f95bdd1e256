"""Entry point: ``idscope COMMAND ...``.

User errors (:class:`idscope.IdscopeError`) print one line and exit 2; bugs keep their
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .._errors import IdscopeError

# Each command module defines ``add_parser(subparsers)`` and ``run(args) -> int``.
COMMANDS = ("estimate", "dataset", "sweep", "profile", "demo")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="idscope",
        description="Intrinsic dimension and label sharpness of data and representations.")
    parser.add_argument("--version", action="version", version=f"idscope {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".{name}", __package__).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except IdscopeError as exc:
        print(f"idscope {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"idscope {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
