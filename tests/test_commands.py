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
