"""One error type for everything a user can cause, shown as one line by the CLI.

Raise :class:`GemmaikuError` with a message that names the problem *and* the fix, e.g.
``GemmaikuError("no such file: x.gguf (give the path to a GGUF file)")``. The CLI prints it as
``gemmaiku: error: ...`` and exits with status 2; set GEMMAIKU_DEBUG=1 to see the traceback.
"""


class GemmaikuError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 2
