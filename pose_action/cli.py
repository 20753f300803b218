"""The `pose-action` command: a thin dispatcher over pose_action.commands, one module per command.

Each command module has `add_arguments(parser)` and `run(args) -> exit code`; the work
functions it calls are importable without the CLI. Only the chosen command's module is
imported, so `pose-action --help` and TensorFlow-free commands stay fast and never load TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from pose_action import __version__
from pose_action.errors import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, InputError

# name: one-line help; the command lives in pose_action.commands.<name>
COMMANDS: dict[str, str] = {
    "synth": "render a synthetic UCF50-style dataset of drawn actors",
    "extract": "videos -> landmark CSVs, thumbnails and a manifest (resumable)",
    "inspect": "summarize, plot or render landmark CSVs",
    "train": "train a pose, rgb, fusion, lrcn or convlstm model",
    "evaluate": "evaluate a trained run on its test split",
    "predict": "recognize the action in a video file",
    "live": "recognize actions from a webcam",
    "export": "export a run to TFLite for the TensorFlow-free runtime",
    "demo": "the whole flow on the built-in synthetic dataset",
}

EPILOG = f"""exit codes: {EXIT_OK} success; {EXIT_USAGE} usage or input error (one line on stderr);
{EXIT_PARTIAL} a batch finished but some items failed (see its manifest).
Run `pose-action COMMAND --help` for a command's options."""


def _quiet_native_logs() -> None:
    # TensorFlow and MediaPipe's C++ logging flood stderr with start-up chatter.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pose-action",
        description="Recognize human actions in videos from pose landmarks fused with scene context.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"pose-action {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def command_parser(name: str) -> argparse.ArgumentParser:
    """The full parser of one command (imports only that command's module)."""
    module = importlib.import_module(f"pose_action.commands.{name}")
    parser = argparse.ArgumentParser(
        prog=f"pose-action {name}", description=(module.__doc__ or COMMANDS[name]).strip(),
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_arguments(parser)
    parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _quiet_native_logs()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("tensorflow", "absl", "distributed", "h5py"):  # tracing/retracing chatter
        logging.getLogger(noisy).setLevel(logging.ERROR)
    if not argv or argv[0] not in COMMANDS:
        top = _top_parser()
        if not argv:
            top.print_help()
            return EXIT_USAGE
        top.parse_args(argv)  # prints help/version, or a usage error naming the bad command
        return EXIT_USAGE
    name = argv[0]
    try:
        parser = command_parser(name)
    except ModuleNotFoundError as error:
        if error.name and error.name.startswith("pose_action"):
            print(f"pose-action {name}: error: this command is not available in this version",
                  file=sys.stderr)
            return EXIT_USAGE
        print(f"pose-action {name}: error: missing dependency {error.name!r} "
              f"(install with: pip install 'pose-action[train]')", file=sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(argv[1:])
    try:
        return int(args._run(args) or EXIT_OK)
    except InputError as error:
        print(f"pose-action {name}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"pose-action {name}: interrupted; finished outputs are kept and a rerun resumes",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
