"""Errors the command line turns into one line and an exit code."""

# Exit codes of every command (documented in the README).
EXIT_OK = 0
EXIT_USAGE = 2  # bad usage or bad input: one line on stderr, nothing written half-way
EXIT_PARTIAL = 3  # a batch finished, but some items failed (see its manifest/report)


class InputError(ValueError):
    """Bad user input: a file or option the user can fix. The message names the file and problem."""
