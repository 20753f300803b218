"""Reading videos: the container's timestamps for variable frame rates, large frames scaled down at once,
output names checked before any work (issue 12)."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from pose_action.errors import InputError
from pose_action.video import MAX_FRAME_SIDE, FrameClock, check_video_output, probe, read_frames, timestamp_ms

STBL = (b"moov", b"trak", b"mdia", b"minf", b"stbl")


def _box(data: bytes, path: tuple[bytes, ...], start: int = 0, end: int | None = None) -> tuple[int, int]:
    """(offset, size) of the MP4 box at `path`."""
    end = len(data) if end is None else end
    while start < end:
        size, kind = struct.unpack(">I4s", data[start:start + 8])
        if kind == path[0]:
            return (start, size) if len(path) == 1 else _box(data, path[1:], start + 8, start + size)
        start += size
    raise KeyError(path)


def write_vfr_mp4(path: Path, durations_ms: list[float], size: tuple[int, int] = (64, 48)) -> Path:
    """A real variable-frame-rate MP4: OpenCV writes it at a constant rate, then its time-to-sample
    table (stts) is rewritten so that frame i lasts durations_ms[i] (moov follows mdat, so no
    sample offset moves)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, size)
    for index in range(len(durations_ms)):
        writer.write(np.full((size[1], size[0], 3), (index * 7) % 255, np.uint8))
    writer.release()
    data = bytearray(path.read_bytes())
    mdhd, _ = _box(data, STBL[:3] + (b"mdhd",))
    timescale = struct.unpack(">I", data[mdhd + 20:mdhd + 24])[0]
    stts, stts_size = _box(data, STBL + (b"stts",))
    entries = b"".join(struct.pack(">II", 1, round(d * timescale / 1000)) for d in durations_ms)
    table = struct.pack(">I4sII", 16 + len(entries), b"stts", 0, len(durations_ms)) + entries
    grow = len(table) - stts_size
    for depth in range(len(STBL), 0, -1):  # every box that holds the table grows with it
        offset, box_size = _box(data, STBL[:depth])
        data[offset:offset + 4] = struct.pack(">I", box_size + grow)
    data[stts:stts + stts_size] = table
    path.write_bytes(bytes(data))
    return path


def test_variable_frame_rate_timestamps_come_from_the_container(tmp_path):
    """30 frames at 50 fps, then 30 at 5 fps: the average rate put frame 30 at 1610 ms; it was shown at 600 ms."""
    video = write_vfr_mp4(tmp_path / "vfr.mp4", [20.0] * 30 + [200.0] * 30)
    info = probe(video)
    assert timestamp_ms(30, info.fps) > 1000  # what index / average fps says
    stamps = {index: stamp for index, stamp, _ in read_frames(video)}
    assert stamps[1] == 20 and stamps[30] == 600 and stamps[31] == 800
    assert np.all(np.diff(list(stamps.values())) > 0)
    every_third = {index: stamp for index, stamp, _ in read_frames(video, stride=3)}
    assert every_third[30] == 600 and every_third[33] == 1200


def test_constant_rate_videos_keep_index_over_fps_timestamps(tmp_path):
    video = tmp_path / "cfr.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 29.97, (32, 24))
    for index in range(20):
        writer.write(np.full((24, 32, 3), index * 10, np.uint8))
    writer.release()
    info = probe(video)
    assert [stamp for _, stamp, _ in read_frames(video)] == [timestamp_ms(i, info.fps) for i in range(20)]


def test_clock_falls_back_to_fps_when_the_container_goes_wrong():
    clock = FrameClock(25.0)
    assert [clock.timestamp(i, ms) for i, ms in enumerate([0.0, 40.0, 40.0, float("nan"), 500.0])] == [
        0, 40, 80, 120, 160]  # a repeated timestamp: from then on 40 ms per frame
    assert [FrameClock(25.0).timestamp(i, -1.0) for i in range(1)] == [0]


def test_large_frames_are_scaled_down_as_they_are_decoded(tmp_path):
    video = tmp_path / "big.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (2880, 1620))
    for _ in range(2):
        writer.write(np.zeros((1620, 2880, 3), np.uint8))
    writer.release()
    info = probe(video)
    assert (info.width, info.height) == (2880, 1620)  # what the manifest records: the source's size
    shapes = [frame.shape for _, _, frame in read_frames(video)]
    assert shapes == [(1080, MAX_FRAME_SIDE, 3)] * 2  # aspect kept
    assert [frame.shape for _, _, frame in read_frames(video, max_side=None)] == [(1620, 2880, 3)] * 2


@pytest.mark.parametrize("name, message", [
    ("out.txt", "--out writes videos: give a name ending in .avi, .mkv, .mov, .mp4"),
    ("folder.mp4", "exists and is not a file"),
])
def test_video_outputs_are_checked_before_any_work(tmp_path, name, message):
    (tmp_path / "folder.mp4").mkdir()
    with pytest.raises(InputError, match=message):
        check_video_output(tmp_path / name)
    assert check_video_output(tmp_path / "new" / "ok.mp4") == tmp_path / "new" / "ok.mp4"


def test_a_folder_is_not_a_video(tmp_path):
    with pytest.raises(InputError, match="is a folder, not a video file"):
        probe(tmp_path)
