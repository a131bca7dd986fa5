"""The EdgekitError tree and exit codes (ARCHITECTURE.md, rule 13).

Library code raises these; only ``cli.py`` turns them into one stderr line and an exit code.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_USAGE = 2  # EdgekitError or a usage error (Click's code)
EXIT_FAILED = 3  # nothing measured (sweep, quickstart), a budget broken, nothing picked
EXIT_BUDGET = EXIT_FAILED  # a budget was broken
EXIT_UNMET = EXIT_FAILED  # edgekit pick: nothing meets --max-latency-ms
EXIT_INTERRUPTED = 130  # Ctrl-C, after cleanup

# the table `edgekit --help` and the README show; one place, so they cannot disagree
EXIT_CODES = (
    (EXIT_OK, "success (sweep: at least one variant measured; failed ones are named on stderr)"),
    (1, "an unexpected error (a bug: --debug shows the traceback; please report it)"),
    (EXIT_USAGE, "bad input: a file or option, named in one line with the fix"),
    (EXIT_FAILED, "nothing measured (sweep, quickstart), a failed variant under --strict, a "
                  "budget or regression broken (budget check), nothing within the limits (pick)"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C); nothing was left half-written"),
)


def exit_codes_text() -> str:
    """The exit-code table as plain lines (for --help and the README)."""
    return "Exit codes: " + "; ".join(f"{c} {what}" for c, what in EXIT_CODES) + "."


class EdgekitError(Exception):
    """A user-facing error: what is wrong (naming the file) and how to fix it."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, hint: str = "", *, path: str | None = None) -> None:
        self.message = message
        self.hint = hint
        self.path = path
        super().__init__(self.line())

    def line(self) -> str:
        """The one line shown to the user: ``<file>: <what is wrong>; <fix>``."""
        where = f"{self.path}: " if self.path else ""
        fix = f"; {self.hint}" if self.hint else ""
        return f"{where}{self.message}{fix}".replace("\n", " ")

    def to_dict(self) -> dict[str, str]:
        return {"type": type(self).__name__, "message": self.message, "hint": self.hint,
                "path": self.path or ""}


class SourceError(EdgekitError):
    """The model spec cannot be resolved into a model."""


class ExportError(EdgekitError):
    """Export, simplification or verification failed."""


class CalibrationError(EdgekitError):
    """Calibration or validation data is missing or malformed."""


class BackendUnavailable(EdgekitError):
    """An optional runtime (torch, onnxruntime, tensorrt, ...) is not installed or has no device."""


class ConfigError(EdgekitError):
    """A configuration file or option is invalid."""


class Unsupported(ConfigError):
    """This machine cannot serve the request (bf16 on a CPU without bf16 instructions): a
    sweep records the variant as unsupported, with this reason, instead of failed."""


class StoreError(EdgekitError):
    """The results store cannot be opened or written."""
