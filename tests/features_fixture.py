"""A tiny extracted-features folder made without videos: the layout `pose-action extract` writes.

Each class has its own motion (a moving skeleton written with landmarks.write_csv) and its own
scene colour (thumbnails); two classes share the motion and differ only by scene, like the
synthetic TennisSwing/BaseballSwing pair. Groups are actors (size, position, tempo).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pose_action.landmarks import INDEX, NUM_LANDMARKS, LandmarkSequence, write_csv

# class -> (motion, scene colour RGB)
CLASSES: dict[str, tuple[str, tuple[int, int, int]]] = {
    "ArmRaise": ("raise", (60, 120, 200)),
    "Wave": ("wave", (60, 120, 200)),  # same scene as ArmRaise: only motion tells them apart
    "TennisSwing": ("swing", (40, 170, 60)),
    "BaseballSwing": ("swing", (190, 150, 90)),  # same motion as TennisSwing: only scene tells
}


# Model sizes that train in seconds on the fixture. mix_folds 0: a fusion serves its heads in equal
# shares (the served model's form) without training inner models for the learned mix, which tests
# that are about the mix ask for (test_train.py test_learned_fusion_serves_the_mix_learned_out_of_fold).
TINY_PARAMS = {"lstm_units": 8, "pose_units": 8, "appearance_units": 8, "cnn_filters": [4, 8], "mix_folds": 0}


def _skeleton(motion: str, frames: int, rng: np.random.Generator, scale: float, centre: tuple[float, float],
              tempo: float) -> np.ndarray:
    base = np.zeros((NUM_LANDMARKS, 2))
    base[:] = (0.0, -0.35)  # face points near the head
    named = {"left_shoulder": (-0.1, -0.25), "right_shoulder": (0.1, -0.25), "left_elbow": (-0.15, -0.1),
             "right_elbow": (0.15, -0.1), "left_wrist": (-0.17, 0.05), "right_wrist": (0.17, 0.05),
             "left_hip": (-0.06, 0.1), "right_hip": (0.06, 0.1), "left_knee": (-0.07, 0.3),
             "right_knee": (0.07, 0.3), "left_ankle": (-0.07, 0.5), "right_ankle": (0.07, 0.5)}
    for name, xy in named.items():
        base[INDEX[name]] = xy
    phase = np.linspace(0, 2 * np.pi * tempo, frames) + rng.uniform(0, 0.5)
    points = np.repeat(base[None], frames, axis=0)
    if motion == "raise":
        lift = 0.3 * (1 - np.cos(phase)) / 2
        for side in ("left", "right"):
            points[:, INDEX[f"{side}_wrist"], 1] -= 2 * lift
            points[:, INDEX[f"{side}_elbow"], 1] -= lift
    elif motion == "wave":
        points[:, INDEX["right_wrist"]] = (0.2, -0.4)
        points[:, INDEX["right_wrist"], 0] += 0.08 * np.sin(3 * phase)
        points[:, INDEX["right_elbow"]] = (0.2, -0.2)
    else:  # swing: both wrists sweep across the body
        sweep = np.sin(phase)
        for side in ("left", "right"):
            points[:, INDEX[f"{side}_wrist"], 0] = 0.25 * sweep
            points[:, INDEX[f"{side}_wrist"], 1] = -0.05 - 0.1 * np.abs(sweep)
    points = points * scale + np.array(centre)
    points += rng.normal(0, 0.003, points.shape)
    data = np.zeros((frames, NUM_LANDMARKS, 8), dtype=np.float32)
    data[:, :, :2] = points
    data[:, :, 2] = rng.normal(0, 0.02, (frames, NUM_LANDMARKS))
    data[:, :, 3:5] = 0.95
    data[:, :, 5:7] = (points - points[:, [INDEX["left_hip"]]]) * 1.7
    return data


def _thumbs(colour: tuple[int, int, int], count: int, size: int, rng: np.random.Generator) -> np.ndarray:
    thumbs = np.empty((count, size, size, 3), dtype=np.uint8)
    thumbs[:] = np.array(colour, dtype=np.uint8)
    noise = rng.integers(-20, 21, size=thumbs.shape)
    thumbs = np.clip(thumbs.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    thumbs[:, size // 4: 3 * size // 4, size // 3: 2 * size // 3] = 230  # the person
    return thumbs


def make_features(root: str | Path, *, groups: int = 3, clips: int = 2, frames: int = 30, thumb_size: int = 16,
                  classes: dict[str, tuple[str, tuple[int, int, int]]] | None = None, seed: int = 0,
                  no_pose_clip: bool = True, embeddings_dim: int | None = None) -> Path:
    """Write FEATURES/{landmarks,frames}/<Class>/<clip>.*, manifest.csv and extract_config.json."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    rows = []
    classes = classes or CLASSES
    for label, (motion, colour) in classes.items():
        for group in range(1, groups + 1):
            actor = np.random.default_rng([seed, group])
            scale, centre = actor.uniform(0.6, 1.0), (actor.uniform(0.35, 0.65), actor.uniform(0.45, 0.55))
            for clip in range(1, clips + 1):
                stem = f"v_{label}_g{group:02d}_c{clip:02d}"
                count = frames + int(rng.integers(-5, 6))
                data = _skeleton(motion, count, rng, scale, centre, tempo=actor.uniform(0.8, 1.2))
                frame_index = np.arange(count, dtype=np.int64)
                sequence = LandmarkSequence(frame=frame_index, timestamp_ms=frame_index * 40, data=data,
                                            fps=25.0, width=320, height=240)
                write_csv(root / "landmarks" / label / f"{stem}.csv", sequence)
                (root / "frames" / label).mkdir(parents=True, exist_ok=True)
                np.savez(root / "frames" / label / f"{stem}.npz", thumbs=_thumbs(colour, count, thumb_size, rng),
                         frame_index=frame_index)
                if embeddings_dim:
                    folder = root / "embeddings" / "mobilenet_v3_small" / label
                    folder.mkdir(parents=True, exist_ok=True)
                    vectors = rng.normal(0, 0.1, (count, embeddings_dim)) + np.array(colour).mean() / 100
                    np.savez(folder / f"{stem}.npz", vectors=vectors.astype(np.float16), frame_index=frame_index)
                rows.append({"video": f"videos/{label}/{stem}.mp4", "label": label, "group": f"{group:02d}",
                             "status": "ok", "frames_total": count, "frames_processed": count,
                             "frames_with_pose": count, "fps": 25.0, "width": 320, "height": 240,
                             "seconds": count / 25.0, "error": "", "key": f"{label}/{stem}"})
    if no_pose_clip:  # extraction writes its files like any clip's: rows without a pose, the scene's thumbnails
        label = next(iter(classes))
        frame_index = np.arange(20, dtype=np.int64)
        empty = np.full((20, 33, 8), np.nan, np.float32)
        write_csv(root / "landmarks" / label / f"v_{label}_g01_c99.csv",
                  LandmarkSequence(frame=frame_index, timestamp_ms=frame_index * 40, data=empty, fps=25.0,
                                   width=320, height=240))
        np.savez(root / "frames" / label / f"v_{label}_g01_c99.npz",
                 thumbs=_thumbs(classes[label][1], 20, thumb_size, rng), frame_index=frame_index)
        if embeddings_dim:
            np.savez(root / "embeddings" / "mobilenet_v3_small" / label / f"v_{label}_g01_c99.npz",
                     vectors=rng.normal(0, 0.1, (20, embeddings_dim)).astype(np.float16), frame_index=frame_index)
        rows.append({"video": f"videos/{label}/v_{label}_g01_c99.mp4", "label": label, "group": "01",
                     "status": "no_pose", "frames_total": 20, "frames_processed": 20, "frames_with_pose": 0,
                     "fps": 25.0, "width": 320, "height": 240, "seconds": 0.8, "error": "",
                     "key": f"{label}/v_{label}_g01_c99"})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    (root / "extract_config.json").write_text(json.dumps(
        {"config_id": "fixture", "pose_model": {"name": "lite", "file": "pose_landmarker_lite.task",
                                               "sha256": "0" * 64},
         "sampling": {"fps": None, "stride": None}, "thumbnails": {"size": thumb_size, "frames": 64}}),
        encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def small_features(tmp_path_factory):
    """3 groups × 2 clips per class (and one clip without a person), 24 frames, 16-pixel thumbnails."""
    return make_features(tmp_path_factory.mktemp("features"), groups=3, clips=2, frames=24, thumb_size=16)
