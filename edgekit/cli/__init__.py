"""The ``edgekit`` command line: the root app, ``main`` and its error handling.

Each command file in this package owns a ``typer.Typer()`` and the root adds it (typer's
one-file-per-command pattern); a command parses, calls ONE library function and prints
(ARCHITECTURE.md). Importing this package must not import torch, timm, onnxruntime, onnx,
openvino or tensorrt: a test pins it, so ``edgekit profile`` runs on a Jetson with numpy and
onnxruntime or TensorRT only.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer

from edgekit import __version__, noise
from edgekit.cli import budget as budget_cmds
from edgekit.cli import build, compare, export, lab, measure, pick, run
from edgekit.errors import EXIT_INTERRUPTED, EXIT_USAGE, EdgekitError, exit_codes_text

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Take an image classifier of any architecture to an edge device, and "
                       "measure what you get.", epilog=exit_codes_text())


def _version(value: bool) -> None:
    if value:
        print(f"edgekit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show tracebacks for errors, and other libraries' output as it is.")] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", help="List other libraries' warnings (folded into one line otherwise); "
                          "may stand anywhere on the line")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version.")] = False,
) -> None:
    """edgekit: export -> quantize -> build -> profile -> pareto/budget."""


for _commands in (export, measure, compare, pick, run, build, lab):
    app.add_typer(_commands.app)
app.add_typer(lab.lab_app, name="lab")
app.add_typer(budget_cmds.app, name="budget")


def _fail(line: str, err: dict[str, str], code: int, json_out: bool) -> None:
    print(f"error: {line}", file=sys.stderr)
    if json_out:
        print(json.dumps({"error": err}))
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("EDGEKIT_DEBUG") == "1"
    verbose = "--verbose" in args or os.environ.get("EDGEKIT_VERBOSE") == "1"
    if "build" not in args:  # --verbose is a root flag that may stand anywhere (build has its own)
        args = [a for a in args if a != "--verbose"]
    quiet = "-q" in args or "--quiet" in args
    with noise.folded("all" if debug else "verbose" if verbose else "fold") as caught:
        _dispatch(args, debug, "--json" in args)
    if not quiet:
        lines = caught.details() if verbose else [s for s in [caught.summary()] if s]
        for line in lines:
            print(f"note: {line}", file=sys.stderr)


def _dispatch(args: list[str], debug: bool, json_out: bool) -> None:
    """Run the command; errors become one line and an exit code (SystemExit)."""
    try:
        rc = app(args=args, prog_name="edgekit", standalone_mode=False)
        if isinstance(rc, int) and rc:  # typer.Exit(code) inside a command returns the code
            sys.exit(rc)
    except EdgekitError as e:
        if debug:
            raise
        _fail(e.line(), e.to_dict(), e.exit_code, json_out)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.TyperException as e:  # Click's usage errors: one line, exit 2
        if debug:
            raise
        ctx = getattr(e, "ctx", None)
        cmd = f" {ctx.info_name}" if ctx is not None and ctx.info_name != "edgekit" else ""
        msg = str(e.format_message() if hasattr(e, "format_message") else e)
        msg = msg.replace("\n", " ").rstrip(".")
        _fail(f"{msg}; see edgekit{cmd} --help",
              {"type": "UsageError", "message": msg, "hint": "see --help", "path": ""},
              EXIT_USAGE, json_out)
    except (KeyboardInterrupt, typer.Abort):
        print("error: interrupted; nothing was left half-written", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
