"""Run at start-up by every Python process whose PYTHONPATH holds this folder (tests/conftest.py
`arm_worker_crash`): extraction's per-video job then crashes its process in native code (a real
segfault) on a video whose file name contains $POSE_ACTION_TEST_CRASH_ON. Workers are started by
other processes (a forkserver, Dask), so this is how a test reaches them; the shipped code has no
hook. The variable is read again for each video: a worker takes the run's environment as it is when
the worker starts, so a test disarms the hook with `monkeypatch.delenv`."""

import os

if os.environ.get("POSE_ACTION_TEST_CRASH_ON"):
    import ctypes

    from pose_action.extraction import job

    _process_video = job.process_video

    def process_video(item, *args, **kwargs):
        marker = os.environ.get("POSE_ACTION_TEST_CRASH_ON")
        if marker and marker in item.path.name:
            ctypes.string_at(0)
        return _process_video(item, *args, **kwargs)

    job.process_video = process_video  # before the worker module imports it by name
