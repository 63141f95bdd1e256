"""Entry point: ``idscope COMMAND ...``.

User errors (:class:`idscope.IdscopeError`) print one line and exit 2; bugs keep their
traceback. Only the module of the command being run is imported (``idscope --version`` and
``idscope --help`` import no numpy, torch or matplotlib), so every call starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# command -> (module defining ``add_parser(subparsers)`` and the command's ``run``, one-line
# help shown by ``idscope --help``). A module may define several commands (``sweep`` and
# ``analyze``); it must register each under the name listed here.
COMMANDS: dict[str, tuple[str, str]] = {
    "estimate": ("estimate", "intrinsic dimension of a data file or bundled dataset"),
    "dataset": ("dataset", "d_data and label sharpness K_F of a labelled dataset"),
    "sweep": ("sweep", "run a training sweep from a TOML config (resumable)"),
    "analyze": ("sweep", "scaling-law fits and correlations over a sweep's results"),
    "profile": ("profile", "ID of a model's representations across depth"),
    "geometry": ("geometry", "ID profile beside layer x layer neighbourhood overlap and CKA"),
    "demo": ("demo", "reproduce the papers' findings on bundled data, with an HTML report"),
    "study": ("demo", "one paper's findings on any model and data, with an HTML report"),
    "report": ("demo", "rebuild the HTML report of a demo or a sweep from its saved results"),
}


def _version() -> str:
    from .. import __version__

    return __version__


def _command_of(argv: list[str]) -> str | None:
    """The command named on the command line (the top level has only flag options)."""
    for arg in argv:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the module of the command it names is imported (the
    other commands get a placeholder with their one-line help). Without, all are loaded."""
    parser = argparse.ArgumentParser(
        prog="idscope",
        description="Intrinsic dimension and label sharpness of data and representations.")
    parser.add_argument("--version", action="version", version=f"idscope {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = None if argv is None else _command_of(argv)
    modules = dict.fromkeys(m for m, _ in COMMANDS.values()) if argv is None else (
        {COMMANDS[wanted][0]: None} if wanted else {})
    for module in modules:
        importlib.import_module(f".{module}", __package__).add_parser(sub)
    for name, (_, help_text) in COMMANDS.items():
        if name not in sub.choices:  # a placeholder: its module loads when it is run
            sub.add_parser(name, help=help_text)
    return parser


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush cannot fail again
    after the reader of a pipe (``| head``) has gone."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout: nothing left to protect
        pass


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser(argv).parse_args(argv)
    except BrokenPipeError:  # `idscope --help | head`
        _quiet_stdout()
        return 0
    from .._errors import IdscopeError

    try:
        code = int(args.run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
        return code
    except BrokenPipeError:
        # the reader went away (`idscope estimate ... --json | head`): stop quietly, as
        # cat and grep do
        _quiet_stdout()
        return 0
    except IdscopeError as exc:
        from ._format import cli_message

        print(f"idscope {args.command}: error: {cli_message(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:
        # The machine, not idscope: a full disk, a file-size limit, a missing or unwritable
        # path. One line, like a user error; the writers have removed their partial files.
        print(f"idscope {args.command}: error: {_os_error_text(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"idscope {args.command}: interrupted", file=sys.stderr)
        return 130


def _os_error_text(exc: OSError) -> str:
    from .._atomic import NO_SPACE_ERRNOS, storage_error

    if exc.errno in NO_SPACE_ERRNOS:
        return str(storage_error(exc, exc.filename or "a file"))
    where = f": {exc.filename}" if exc.filename else ""
    if exc.filename2:
        where += f" -> {exc.filename2}"
    return f"{(exc.strerror or str(exc)).lower()}{where}" if exc.strerror else str(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
