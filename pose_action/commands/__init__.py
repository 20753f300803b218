"""The `pose-action` commands: one thin module each, argparse arguments and a call into the work function.

Every module has `add_arguments(parser)` and `run(args) -> exit code`; its docstring is the
command's `--help` description. The work functions live in the stage packages and are
importable and tested without the command line.
"""
