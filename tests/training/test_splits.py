"""Group-aware splits: no group on both sides of train|test, validation from training groups only."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from pose_action.errors import InputError
from pose_action.layout import FeaturesLayout
from pose_action.training.splits import Clip, fold_count, fold_groups, make_split, read_clips


def _clips(groups: int = 6, classes: int = 3, per_group: int = 2, uneven: bool = False) -> list[Clip]:
    clips = []
    for label in range(classes):
        for group in range(1, groups + 1):
            count = per_group + (group % 3 if uneven else 0)
            for clip in range(count):
                clips.append(Clip(key=f"C{label}/v_C{label}_g{group:02d}_c{clip:02d}", label=f"C{label}",
                                  group=f"{group:02d}"))
    return clips


def _groups(clips: list[Clip], keys: list[str]) -> set[str]:
    group_of = {clip.key: clip.group for clip in clips}
    return {group_of[key] for key in keys}


def _check_disjoint(clips: list[Clip], split) -> None:
    train, val, test = _groups(clips, split.train), _groups(clips, split.val), _groups(clips, split.test)
    assert not (train | val) & test, "a group is in both training and test"
    assert set(split.test_groups) == test
    assert sorted(split.train + split.val + split.test) == sorted(c.key for c in clips)  # nothing lost


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("kind", ["holdout", "logo", "groupkfold:3", "stratifiedgroupkfold:3"])
def test_group_splits_never_share_a_group(kind, seed):
    clips = _clips(uneven=True)
    for fold in range(fold_count(clips, kind.split(":")[0], 3 if ":" in kind else None)):
        split = make_split(clips, kind, fold=None if kind == "holdout" else fold, seed=seed)
        _check_disjoint(clips, split)
        assert split.val and not _groups(clips, split.val) & _groups(clips, split.train), \
            "with >= 3 training groups, validation is made of whole training groups"
        assert not split.leaks_groups


def test_logo_folds_test_each_group_once():
    clips = _clips(groups=5)
    tested = [make_split(clips, "logo", fold=fold).test_groups for fold in range(5)]
    assert sorted(group for groups in tested for group in groups) == ["01", "02", "03", "04", "05"]


def test_groupkfold_balances_clip_counts():
    clips = _clips(groups=9, uneven=True)
    folds = fold_groups(clips, "groupkfold", 3, seed=0)
    sizes = [sum(1 for clip in clips if clip.group in fold) for fold in folds]
    assert sorted(g for fold in folds for g in fold) == sorted({c.group for c in clips})
    assert max(sizes) - min(sizes) <= 3 * 2  # within one (largest) group's size


def test_stratified_group_folds_keep_the_class_mix():
    """Every group holds one class here: a stratified fold takes one group of each class, a plain one need not."""
    clips = [Clip(key=f"C{label}/g{group}_{clip}", label=f"C{label}", group=f"{label}{group}")
             for label in range(3) for group in range(3) for clip in range(2)]
    for seed in range(3):
        folds = fold_groups(clips, "stratifiedgroupkfold", 3, seed=seed)
        assert sorted(g for fold in folds for g in fold) == sorted({c.group for c in clips})
        assert all(sorted(group[0] for group in fold) == ["0", "1", "2"] for fold in folds)
    split = make_split(clips, "stratifiedgroupkfold:3", fold=2, seed=1)
    _check_disjoint(clips, split)
    assert split.folds == 3 and {key.split("/")[0] for key in split.test} == {"C0", "C1", "C2"}


def test_most_groups_of_one_clip_warn_loudly(caplog):
    """A --group-pattern that matched nothing makes every clip its own group: train must say so."""
    clips = [Clip(key=f"C{label}/clip{n}", label=f"C{label}", group=f"clip{label}{n}")
             for label in range(2) for n in range(5)]
    with caplog.at_level(logging.WARNING):
        make_split(clips, "holdout")
    assert "10 of 10 groups hold a single clip" in caplog.text and "--group-pattern" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        make_split(_clips(), "holdout")
    assert "single clip" not in caplog.text


def test_holdout_is_reproducible_and_seed_dependent():
    clips = _clips(groups=10)
    assert make_split(clips, seed=3) == make_split(clips, seed=3)
    assert len({tuple(make_split(clips, seed=seed).test_groups) for seed in range(6)}) > 1
    assert len(make_split(clips, test_fraction=0.2).test_groups) == 2


def test_few_groups_validation_uses_training_clips_but_never_test():
    clips = _clips(groups=3)  # like ud810: 3 people, leave-one-person-out leaves 2 for training
    split = make_split(clips, "logo", fold=1)
    _check_disjoint(clips, split)
    assert split.val_shares_groups and split.val
    assert {key.split("/")[0] for key in split.val} == {"C0", "C1", "C2"}  # every class validates


def test_random_split_warns_that_it_leaks(caplog):
    clips = _clips(groups=4, per_group=4)
    with caplog.at_level(logging.WARNING):
        split = make_split(clips, "random", seed=0)
    assert split.leaks_groups
    assert "inflated" in caplog.text
    assert _groups(clips, split.train) & _groups(clips, split.test)  # and indeed it does


@pytest.mark.parametrize("kind,fold,message", [
    ("logo", 7, "folds 0..5"), ("groupkfold:1", None, "fold count"), ("kfold", None, "choose holdout"),
    ("holdout", 2, "--fold applies"), ("groupkfold:9", None, "at least 9 groups"),
])
def test_bad_split_requests_are_input_errors(kind, fold, message):
    with pytest.raises(InputError, match=message):
        make_split(_clips(), kind, fold=fold)


def test_one_group_cannot_be_split():
    clips = [Clip(key=f"A/{i}", label="A", group="1") for i in range(4)]
    with pytest.raises(InputError, match="at least 2 groups"):
        make_split(clips)


def test_manifest_keeps_every_decoded_clip_and_counts_the_failed(tmp_path):
    rows = [
        {"video": "/v/Wave/v_Wave_g01_c01.avi", "label": "Wave", "group": "01", "status": "ok", "width": 320,
         "height": 240, "frames_processed": 50, "seconds": 2.0, "fps": 25.0},
        {"video": "/v/Wave/v_Wave_g02_c01.avi", "label": "Wave", "group": "02", "status": "no_pose", "width": 320,
         "height": 240, "frames_processed": 50, "seconds": 2.0, "fps": 25.0},
        {"video": "/v/Jump/v_Jump_g01_c01.avi", "label": "Jump", "group": "01", "status": "failed", "width": None,
         "height": None, "frames_processed": None, "seconds": None, "fps": None},
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    clip_set = read_clips(FeaturesLayout(tmp_path))
    # a clip without any person is still a clip to learn from and to predict; only undecodable ones go
    assert [clip.key for clip in clip_set.clips] == ["Wave/v_Wave_g01_c01", "Wave/v_Wave_g02_c01"]  # label/stem
    assert [clip.status for clip in clip_set.clips] == ["ok", "no_pose"]
    assert clip_set.clips[0].group == "01" and clip_set.clips[0].width == 320
    assert clip_set.excluded == {"failed": 1}
    with pytest.raises(InputError, match="no manifest"):
        read_clips(FeaturesLayout(tmp_path / "elsewhere"))
