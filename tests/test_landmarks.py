"""The landmark CSV contract: names in MediaPipe's order, lossless round trip, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pose_action import landmarks
from pose_action.errors import InputError
from pose_action.extraction.pose import vision


def test_names_follow_mediapipe_enum():
    enum_names = tuple(member.name.lower() for member in vision().PoseLandmark)
    assert landmarks.LANDMARK_NAMES == enum_names


def test_columns_are_the_documented_ones():
    assert landmarks.COLUMNS[:3] == ("frame", "timestamp_ms", "pose_detected")
    assert landmarks.COLUMNS[3:11] == tuple(f"nose_{c}" for c in
                                            ("x", "y", "z", "visibility", "presence", "wx", "wy", "wz"))
    assert landmarks.COLUMNS[-1] == "right_foot_index_wz"
    assert len(landmarks.COLUMNS) == 3 + 33 * 8


def test_mirror_swaps_left_and_right():
    index = landmarks.INDEX
    assert landmarks.MIRROR[index["left_wrist"]] == index["right_wrist"]
    assert landmarks.MIRROR[index["mouth_left"]] == index["mouth_right"]
    assert landmarks.MIRROR[index["nose"]] == index["nose"]


def _sequence(frames: int = 5) -> landmarks.LandmarkSequence:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(frames):
        points = None if i == 2 else rng.random((33, 8)).astype(np.float32)
        rows.append((i * 2, i * 80, points))
    return landmarks.LandmarkSequence.from_frames(rows, fps=12.5, width=640, height=480)


def test_round_trip_keeps_values_and_missing_frames(tmp_path):
    sequence = _sequence()
    path = tmp_path / "Class" / "clip.csv"
    landmarks.write_csv(path, sequence)
    table = pd.read_csv(path)  # plain pandas reads it
    assert list(table.columns) == list(landmarks.COLUMNS)
    assert table["pose_detected"].tolist() == [1, 1, 0, 1, 1]
    assert table.loc[2, "nose_x"] != table.loc[2, "nose_x"]  # empty cell -> NaN
    loaded = landmarks.load_sequence(path, fps=12.5, width=640, height=480)
    assert landmarks.fps_from_timestamps(table) == pytest.approx(25.0)  # every 2nd frame, 80 ms apart
    np.testing.assert_array_equal(loaded.frame, sequence.frame)
    np.testing.assert_allclose(loaded.data, sequence.data, rtol=1e-5, equal_nan=True)
    assert landmarks.to_array(table).shape == (5, 33, 8)
    assert not list(path.parent.glob(".*"))  # no temp file left behind


def test_the_file_is_what_pandas_writes_and_live_rounding_reads_the_same_numbers(tmp_path):
    """write_csv formats a row at a time; its text must stay pandas' own (missing values empty,
    6 significant digits), and as_stored, which live inference uses, must give the numbers read back."""
    sequence = _sequence()
    sequence.data[0, 0, :3] = [np.inf, -1e-9, 123456789.0]
    path = tmp_path / "clip.csv"
    landmarks.write_csv(path, sequence)
    assert path.read_text() == sequence.to_dataframe().to_csv(index=False, float_format=landmarks.CSV_FLOAT_FORMAT)
    np.testing.assert_array_equal(landmarks.to_array(pd.read_csv(path)), landmarks.as_stored(sequence.data))


@pytest.mark.parametrize("breakage, message", [
    (lambda t: t.drop(columns=["left_wrist_y"]), "missing column 'left_wrist_y'"),
    (lambda t: t.rename(columns={"nose_x": "nose_X"}), "missing column 'nose_x'"),
    (lambda t: t.iloc[0:0], "no rows"),
    (lambda t: t.assign(timestamp_ms=t["timestamp_ms"][::-1].to_numpy()), "timestamps must increase"),
    (lambda t: t.assign(nose_y=["oops"] + [0.5] * (len(t) - 1)), "non-numeric value 'oops'"),
    # issue 12: inf ruined every epoch's loss; duplicated/reordered frames, odd flags and torn rows passed
    (lambda t: t.assign(left_wrist_x=[0.5, np.inf, np.nan, 0.5, 0.5]),
     r"non-finite value inf in column 'left_wrist_x' \(row 2\)"),
    (lambda t: t.assign(nose_wz=[0.5, 0.5, np.nan, -np.inf, 0.5]),
     r"non-finite value -inf in column 'nose_wz' \(row 4\)"),
    (lambda t: t.assign(nose_z=[0.5, 1e39, np.nan, 0.5, 0.5]), "non-finite value 1e[+]?39"),  # beyond float32
    (lambda t: t.assign(left_hip_x=[0.5, 3e38, np.nan, 0.5, 0.5]),
     "value 3e[+]38 in column 'left_hip_x' .row 2. is out of range"),
    (lambda t: t.assign(frame=[0, 2, 2, 6, 8]), "frame is repeated: 2 then 2 at row 3"),
    (lambda t: t.assign(frame=[0, 4, 2, 6, 8]), "frame goes back: 4 then 2 at row 3"),
    (lambda t: t.assign(frame=[0, 2, 4.5, 6, 8]), "frame must be a whole number"),
    (lambda t: t.assign(frame=[-2, 2, 4, 6, 8]), "frame must be a whole number >= 0, got -2"),
    (lambda t: t.assign(timestamp_ms=[0, 80, np.inf, 240, 320]), "timestamp_ms must be a finite number"),
    (lambda t: t.assign(pose_detected=[1, 2, 0, 1, 1]), r"pose_detected must be 0 or 1, got 2 \(row 2\)"),
    (lambda t: t.assign(right_foot_index_wz=[0.1, 0.1, np.nan, np.nan, 0.1]),
     "row 4 has pose_detected 1 but no value in column 'right_foot_index_wz'"),
    (lambda t: t.assign(nose_x=[0.1, 0.1, 0.3, 0.1, 0.1]), "row 3 has pose_detected 0 but a value in column 'nose_x'"),
])
def test_broken_csv_names_file_and_problem(tmp_path, breakage, message):
    path = tmp_path / "broken.csv"
    breakage(_sequence().to_dataframe()).to_csv(path, index=False)
    with pytest.raises(InputError, match=message) as error:
        landmarks.read_csv(path)
    assert str(path) in str(error.value)


def test_torn_last_row_is_named(tmp_path):
    """A copy cut off mid-row (no pose cells after the cut) is refused, not read as a partial pose."""
    path = tmp_path / "torn.csv"
    landmarks.write_csv(path, _sequence())
    text = path.read_text()
    path.write_text(text[: len(text) - len(text.splitlines()[-1]) // 2 - 1])
    with pytest.raises(InputError, match=r"row 5 has pose_detected 1 but no value in column") as error:
        landmarks.read_csv(path)
    assert str(path) in str(error.value)


def test_empty_file_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(InputError, match="empty file"):
        landmarks.read_csv(path)


def test_written_files_get_normal_permissions(tmp_path):
    import os
    path = tmp_path / "clip.csv"
    landmarks.write_csv(path, _sequence())
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_sequence_always_knows_its_video():
    """x and y are fractions of the frame: a sequence without frame size or fps is refused."""
    data = np.zeros((2, 33, 8), np.float32)
    frames = np.arange(2)
    with pytest.raises(TypeError):
        landmarks.LandmarkSequence(frame=frames, timestamp_ms=frames * 40, data=data)  # type: ignore[call-arg]
    with pytest.raises(InputError, match="frame rate and frame size"):
        landmarks.LandmarkSequence(frame=frames, timestamp_ms=frames * 40, data=data, fps=25.0, width=0, height=240)
    sequence = landmarks.LandmarkSequence(frame=frames, timestamp_ms=frames * 40, data=data, fps=25.0, width=320,
                                          height=240)
    assert sequence.aspect == pytest.approx(4 / 3) and sequence.xy.shape == (2, 33, 2)
    assert sequence.visibility.shape == (2, 33) and sequence.world.shape == (2, 33, 3)


def test_channels_are_named_in_csv_order():
    assert [landmarks.CHANNELS[i] for i in (landmarks.X, landmarks.Y, landmarks.VISIBILITY, landmarks.WZ)] == [
        "x", "y", "visibility", "wz"]
