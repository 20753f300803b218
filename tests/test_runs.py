"""Run configs saved by older releases load upgraded, through the one runs.migrate_config."""

from __future__ import annotations

import copy
import json

from pose_action import runs


def test_an_old_run_config_loads_upgraded_and_a_current_one_is_left_as_it_is(tiny):
    current = json.loads((tiny.run / runs.CONFIG_FILE).read_text(encoding="utf-8"))
    assert runs.migrate_config(current) == current  # nothing to upgrade in what this release writes

    old = copy.deepcopy(current)
    del old["features"]["pose_features"], old["features"]["locomotion"]
    old["training"]["workers"] = old["training"].pop("loader_threads") + 2
    del old["training"]["second_person"], old["training"]["locomotion"]
    old["model"]["params"] = {"cnn_filters": [8, 16], "fusion_gate": "confidence", "lstm_units": 8}
    before = copy.deepcopy(old)

    config = runs.RunConfig.from_dict(old, "config.json")
    assert old == before  # the file's values are not changed in place
    assert config.features.pose_features == "normalized" and config.features.locomotion == "none"
    assert config.training["loader_threads"] == current["training"]["loader_threads"] + 2
    assert "workers" not in config.training
    assert config.training["second_person"] is False and config.training["locomotion"] is None
    assert config.model.params == {"cnn_filters": [8, 16], "fusion_gate": "confidence", "lstm_units": 8,
                                   "cnn": "conv", "pose_head": "shared", "novelty_reads": "mix",
                                   "fused_locomotion": True}
    once = runs.migrate_config(old)
    assert runs.migrate_config(once) == once
    # a fusion run saved before the gate existed was one early-fusion head, whatever today's default
    old["model"]["params"] = {"cnn_filters": [8, 16], "lstm_units": 8}
    assert runs.RunConfig.from_dict(old, "config.json").model.params["fusion_gate"] == "none"
    # locomotion was true or false before it named what it carries: true was every channel
    old["features"]["locomotion"], old["training"]["locomotion"] = True, True
    upgraded = runs.RunConfig.from_dict(old, "config.json")
    assert upgraded.features.locomotion == "full" and upgraded.training["locomotion"] == "full"
