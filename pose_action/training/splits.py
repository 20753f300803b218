"""Which clips train, validate and test: group-aware splits that never leak an actor into test.

UCF50 clips of one group share actor and background; a split that puts one group in both
train and test measures memory of the scene, not recognition of the action. Every split
here except `random` (kept only to compare with published tutorials) keeps each group
wholly on one side, and validation for early stopping comes from training groups only.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, GroupShuffleSplit, LeaveOneGroupOut, StratifiedGroupKFold

from pose_action.errors import InputError
from pose_action.extraction.manifest import read_table
from pose_action.layout import FeaturesLayout
from pose_action.runs import check_extraction_config

log = logging.getLogger(__name__)

SPLIT_KINDS = ("holdout", "logo", "groupkfold", "stratifiedgroupkfold", "random")
COUNTED_KINDS = ("groupkfold", "stratifiedgroupkfold")  # take a fold count K
FOLDED_KINDS = ("logo", *COUNTED_KINDS)  # --fold picks the test fold; --cv trains them all
MANIFEST_COLUMNS = ("video", "label", "group", "status")


@dataclass(frozen=True)
class Clip:
    """One extracted video, as listed in FEATURES/manifest.csv."""

    key: str  # "<Class>/<clip>": where its features live under FEATURES/<kind>/
    label: str
    group: str
    width: int | None = None
    height: int | None = None
    frames_processed: int | None = None
    seconds: float | None = None
    fps: float | None = None
    status: str = "ok"  # ok | no_pose (MediaPipe found no person in any frame: still predicted)


# Extraction statuses of clips that train and are scored: every clip whose video decoded.
USABLE_STATUSES = ("ok", "no_pose")


@dataclass(frozen=True)
class ClipSet:
    """The usable clips of a features folder and what was left out (and why)."""

    clips: list[Clip]
    excluded: dict[str, int] = field(default_factory=dict)  # status -> count


def _optional_int(value: Any) -> int | None:  # a pandas cell
    return None if pd.isna(value) else int(value)


def _optional_float(value: Any) -> float | None:  # a pandas cell
    return None if pd.isna(value) else float(value)


def read_clips(layout: FeaturesLayout) -> ClipSet:
    """Every clip whose video decoded (status `ok` or `no_pose`) from FEATURES/manifest.csv.

    A clip in which MediaPipe found no person is data, not an error: it trains and is scored
    like any other (its pose stream says "no person"; models with an appearance stream still see
    the scene), so accuracies count every clip a user would hand the model. Only `failed` clips
    (the video did not decode) are left out; reports list how many.
    """
    extraction = layout.read_config()  # not JSON, or a key of the wrong type: refused now, not after training
    if extraction is not None:
        check_extraction_config(extraction, layout.config)
    path = layout.manifest
    if not path.is_file():
        raise InputError(f"{path}: no manifest (run `pose-action extract VIDEOS --out {layout.root}` first)")
    table = read_table(path, required=MANIFEST_COLUMNS)
    statuses = table["status"].astype(str)
    usable = statuses.isin(USABLE_STATUSES)
    excluded = {status: int(count) for status, count in statuses[~usable].value_counts().items()}
    clips = []
    for row in table[usable].itertuples(index=False):
        row = row._asdict()
        clip = Clip(key=str(row["key"]), label=str(row["label"]), group=str(row["group"]),
                    width=_optional_int(row.get("width")), height=_optional_int(row.get("height")),
                    frames_processed=_optional_int(row.get("frames_processed")),
                    seconds=_optional_float(row.get("seconds")), fps=_optional_float(row.get("fps")),
                    status=str(row["status"]))
        if not (clip.fps and clip.width and clip.height):  # landmarks are fractions of the frame
            raise InputError(f"{path}: clip {clip.key} has no fps or frame size; extract it again")
        clips.append(clip)
    if not clips:
        raise InputError(f"{path}: no usable clip: every video failed to decode ({sum(excluded.values())})")
    return ClipSet(clips=clips, excluded=excluded)


@dataclass(frozen=True)
class Split:
    """Keys of each side and the groups behind them; saved as split.json."""

    kind: str  # holdout | logo | groupkfold:K | stratifiedgroupkfold:K | random
    fold: int | None
    folds: int | None
    train: list[str]
    val: list[str]
    test: list[str]
    train_groups: list[str]
    val_groups: list[str]
    test_groups: list[str]
    seed: int
    leaks_groups: bool = False  # True only for `random`
    val_shares_groups: bool = False  # too few training groups: validation clips drawn from them

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Split:
        return cls(**values)

    def describe(self) -> str:
        fold = f" fold {self.fold} (of 0..{self.folds - 1})" if self.fold is not None and self.folds else ""
        return (f"{self.kind}{fold}: train {len(self.train)} clips ({len(self.train_groups)} groups), "
                f"val {len(self.val)}, test {len(self.test)} clips (groups {', '.join(self.test_groups)})")


def parse_kind(text: str) -> tuple[str, int | None]:
    """'holdout' | 'logo' | 'random' | 'groupkfold:K' | 'stratifiedgroupkfold:K' -> (kind, K)."""
    name, _, count = text.partition(":")
    if name not in SPLIT_KINDS:
        raise InputError(f"--split {text!r}: choose holdout, logo, groupkfold:K, stratifiedgroupkfold:K or random")
    if name in COUNTED_KINDS:
        if not count.isdigit() or int(count) < 2:
            raise InputError(f"--split {text!r}: {name} needs a fold count >= 2, e.g. {name}:5")
        return name, int(count)
    if count:
        raise InputError(f"--split {text!r}: only {' and '.join(COUNTED_KINDS)} take a count")
    return name, None


def sorted_groups(clips: list[Clip]) -> list[str]:
    """Groups in natural order (numeric names by value: '2' before '10')."""
    names = {clip.group for clip in clips}
    return sorted(names, key=lambda name: (0, int(name), name) if name.isdigit() else (1, 0, name))


def _group_codes(clips: list[Clip]) -> tuple[list[str], np.ndarray]:
    """(groups in natural order, each clip's index into them): scikit-learn's splitters then number
    folds in natural order (leave-one-group-out fold 1 holds out group '2', not '10')."""
    groups = sorted_groups(clips)
    index = {group: number for number, group in enumerate(groups)}
    return groups, np.array([index[clip.group] for clip in clips], dtype=np.int64)


def fold_groups(clips: list[Clip], kind: str, count: int | None, seed: int) -> list[list[str]]:
    """The test groups of every fold of a logo, groupkfold:K or stratifiedgroupkfold:K split.

    logo holds out each group once; groupkfold deals the groups into K folds of similar clip
    counts (largest group first); stratifiedgroupkfold also keeps each fold's class mix close
    to the whole set's (seeded), which suits UCF50's 25 groups x 50 classes.
    """
    groups, codes = _group_codes(clips)
    if count is not None and count > len(groups):
        raise InputError(f"{count} folds need at least {count} groups, but the clips have {len(groups)}")
    if kind == "logo":
        splitter = LeaveOneGroupOut()
    elif kind == "groupkfold":
        splitter = GroupKFold(n_splits=count)
    else:
        splitter = StratifiedGroupKFold(n_splits=count, shuffle=True, random_state=seed)
    labels = [clip.label for clip in clips]
    return [[groups[code] for code in np.unique(codes[test])]
            for _, test in splitter.split(np.zeros(len(clips)), labels, codes)]


def fold_count(clips: list[Clip], kind: str, count: int | None) -> int:
    """How many folds a kind has: logo = one per group; (stratified)groupkfold = K; holdout/random = 1."""
    if kind == "logo":
        return len(sorted_groups(clips))
    if kind in COUNTED_KINDS:
        return int(count or 0)
    return 1


def _held_out_groups(clips: list[Clip], fraction: float, seed: int) -> list[str]:
    """About `fraction` of the groups (at least one, never all), drawn with GroupShuffleSplit."""
    groups, codes = _group_codes(clips)
    wanted = min(max(1, int(round(len(groups) * fraction))), len(groups) - 1)
    splitter = GroupShuffleSplit(n_splits=1, test_size=wanted, random_state=seed)
    _, test = next(splitter.split(np.zeros(len(clips)), groups=codes))
    return [groups[code] for code in np.unique(codes[test])]


def _test_groups(clips: list[Clip], kind: str, count: int | None, fold: int, test_fraction: float,
                 seed: int) -> list[str]:
    groups = sorted_groups(clips)
    if len(groups) < 2:
        raise InputError(f"a group-aware split needs at least 2 groups, but all clips are in group {groups[0]!r} "
                         "(check --group-pattern at extraction)")
    if kind in FOLDED_KINDS:
        return fold_groups(clips, kind, count, seed)[fold]
    return _held_out_groups(clips, test_fraction, seed)


def warn_if_groups_are_clips(clips: list[Clip]) -> None:
    """Loudly: when most groups hold one clip, --group-pattern probably matched nothing at extraction."""
    sizes = Counter(clip.group for clip in clips)
    single = sum(1 for size in sizes.values() if size == 1)
    if single > len(sizes) / 2:
        log.warning("WARNING: %d of %d groups hold a single clip. The file names probably did not match "
                    "--group-pattern at extraction, so every clip became its own group and this group-aware "
                    "split is in effect a per-clip split: clips of one actor and background can land in both "
                    "train and test, which inflates accuracy. Re-extract with the right --group-pattern "
                    "(see the manifest's group_from column).", single, len(sizes))


def _random_keys(keys: list[str], labels: list[str], fraction: float, rng: np.random.Generator) -> set[str]:
    """About `fraction` of the keys, per label (so every class appears on both sides)."""
    picked: set[str] = set()
    for label in sorted(set(labels)):
        members = [key for key, other in zip(keys, labels) if other == label]
        take = int(round(len(members) * fraction))
        if len(members) > 1:
            take = min(max(take, 1), len(members) - 1)
        else:
            take = 0
        picked.update(rng.permutation(members)[:take].tolist())
    return picked


def _validation(train: list[Clip], val_fraction: float, seed: int) -> tuple[set[str], list[str], bool]:
    """Validation keys from training groups: whole groups when there are >= 3, else random clips."""
    if val_fraction <= 0:
        return set(), [], False
    groups = sorted_groups(train)
    if len(groups) >= 3:
        val_groups = _held_out_groups(train, val_fraction, seed + 1)
        return {clip.key for clip in train if clip.group in set(val_groups)}, val_groups, False
    keys = _random_keys([clip.key for clip in train], [clip.label for clip in train], val_fraction,
                        np.random.default_rng(seed + 1))
    return keys, groups, True


def make_split(clips: list[Clip], kind_text: str = "holdout", *, fold: int | None = None,
               test_fraction: float = 0.2, val_fraction: float = 0.15, seed: int = 0) -> Split:
    """Train/val/test keys. Group-aware kinds keep every group on one side of train|test."""
    kind, count = parse_kind(kind_text)
    if not 0 < test_fraction < 1:
        raise InputError(f"--test-fraction must be between 0 and 1, got {test_fraction}")
    if not 0 <= val_fraction < 1:
        raise InputError(f"validation fraction must be in [0, 1), got {val_fraction}")
    folds = fold_count(clips, kind, count)
    if kind in FOLDED_KINDS:
        fold = 0 if fold is None else fold
        if not 0 <= fold < folds:
            raise InputError(f"--fold {fold}: {kind_text} has folds 0..{folds - 1}")
    elif fold not in (None, 0):
        raise InputError(f"--fold applies to logo, groupkfold and stratifiedgroupkfold splits, not {kind_text}")
    else:
        fold = None
    if kind == "random":
        log.warning("--split random puts clips of one group (same actor and background) into both train "
                    "and test: its accuracy is inflated; use it only to compare with published tutorials")
        test_keys = _random_keys([c.key for c in clips], [c.label for c in clips], test_fraction,
                                 np.random.default_rng(seed))
        test_groups = sorted_groups([c for c in clips if c.key in test_keys])
    else:
        warn_if_groups_are_clips(clips)
        test_groups = _test_groups(clips, kind, count, fold or 0, test_fraction, seed)
        test_keys = {clip.key for clip in clips if clip.group in set(test_groups)}
    train_pool = [clip for clip in clips if clip.key not in test_keys]
    val_keys, val_groups, val_shares = _validation(train_pool, val_fraction, seed)
    if val_shares and kind != "random" and val_keys:
        log.warning("only %d training group(s): validation clips for early stopping are drawn from the "
                    "training groups (the test groups stay unseen)", len(sorted_groups(train_pool)))
    train = [clip for clip in train_pool if clip.key not in val_keys]
    unseen = sorted({clip.label for clip in clips if clip.key in test_keys} - {clip.label for clip in train})
    if unseen:
        fold_text = f" fold {fold}" if fold is not None else ""
        log.warning("WARNING: split %s%s: the test clips of %s have no training clip (all their groups are "
                    "in the test or validation side): the model cannot learn %s, and those test clips count "
                    "wrong", kind_text, fold_text, ", ".join(unseen), "them" if len(unseen) > 1 else "it")
    return Split(
        kind=kind_text, fold=fold, folds=folds if kind in FOLDED_KINDS else None,
        train=[c.key for c in train], val=[c.key for c in train_pool if c.key in val_keys],
        test=[c.key for c in clips if c.key in test_keys],
        train_groups=sorted_groups(train) if train else [], val_groups=val_groups if val_keys else [],
        test_groups=test_groups, seed=seed, leaks_groups=kind == "random", val_shares_groups=val_shares)
