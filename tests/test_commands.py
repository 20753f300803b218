"""The command line: every command has --help without TensorFlow; shared arguments parse one way."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pose_action import cli
from pose_action.commands.arguments import parse_size
from pose_action.errors import InputError


def test_every_command_has_help_and_none_imports_tensorflow():
    script = ("import json, sys\nfrom pose_action import cli\n"
              "descriptions = {name: cli.command_parser(name).format_help() for name in cli.COMMANDS}\n"
              "print(json.dumps({'tensorflow': 'tensorflow' in sys.modules, 'keras': 'keras' in sys.modules,\n"
              "                  'empty': [name for name, text in descriptions.items() if len(text) < 200]}))")
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    answer = json.loads(completed.stdout.strip().splitlines()[-1])
    assert answer == {"tensorflow": False, "keras": False, "empty": []}


@pytest.mark.parametrize("text, size", [("640x480", (640, 480)), ("320X240", (320, 240)), ("16x8192", (16, 8192))])
def test_size_parses_width_by_height(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text, message", [("big", "must look like 640x480"), ("640", "must look like"),
                                           ("8x8", "between 16x16 and 8192x8192"), ("0x480", "between")])
def test_bad_size_is_one_input_error(text, message):
    with pytest.raises(InputError, match=message):
        parse_size(text)


def test_predict_and_live_share_their_recognizer_options():
    shared = {"--backend", "--threshold", "--smoothing", "--pose-model"}
    for name in ("predict", "live"):
        options = {option for action in cli.command_parser(name)._actions for option in action.option_strings}
        assert shared <= options, name


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["predict", "--verbose"])
    error = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and error.splitlines() == [error]
    assert "required: run, video" in error and "pose-action predict --help" in error


@pytest.mark.parametrize("seed", ["-1", "4294967296", "x"])
def test_seeds_numpy_and_tensorflow_refuse_are_usage_errors(seed, capsys):
    with pytest.raises(SystemExit):
        cli.main(["synth", "unused", "--seed", seed])
    error = capsys.readouterr().err.strip()
    assert error.splitlines() == [error] and "--seed" in error


def test_one_line_strips_what_could_forge_output_or_drive_the_terminal():
    from pose_action.errors import one_line

    assert one_line("a\nb\r\tc  \x1b[2Jd\x07e") == "a b c ?[2Jd?e"
    assert one_line("caf\udcc3") == "caf?" and len(one_line("x" * 5000)) == 1000


def test_a_closed_output_pipe_is_not_an_error(tmp_path):
    """`pose-action ... | head -1`: the reader leaving early is no failure and prints nothing."""
    from features_fixture import make_features

    features = make_features(tmp_path / "features", groups=1, clips=2, frames=8)
    process = subprocess.Popen([sys.executable, "-m", "pose_action", "inspect", str(features), "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # before anything is printed
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == 0 and stderr == "", stderr
    assert (features / "inspect_report.csv").is_file()  # the work was done before the printing


def test_train_workers_is_a_deprecated_alias_of_loader_threads(capsys):
    """Scripts written before --loader-threads keep working; extract's --workers (processes) is untouched."""
    from pose_action.commands.train import options_from_args

    parser = cli.command_parser("train")
    new = options_from_args(parser.parse_args(["features", "--out", "run", "--loader-threads", "3"]))
    assert new.loader_threads == 3 and capsys.readouterr().err == ""
    old = options_from_args(parser.parse_args(["features", "--out", "run", "--workers", "3"]))
    assert old.loader_threads == 3
    assert capsys.readouterr().err.strip() == "pose-action: --workers is deprecated; use --loader-threads"
    default = options_from_args(parser.parse_args(["features", "--out", "run"]))
    assert default.loader_threads == 1 and default.batch_size == 16
    assert "--workers" in {option for action in cli.command_parser("extract")._actions
                           for option in action.option_strings}
