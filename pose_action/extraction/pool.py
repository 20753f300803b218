"""Local worker processes that run extraction jobs, one video at a time each, crash-isolated.

A worker that dies in native code (a segfault in a decoder or the pose model, the OOM
killer) costs only the video it held: that video gets a `failed` row and a fresh worker
takes the next one. Workers send MediaPipe's native messages to FEATURES' worker log.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import pickle
import signal
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path

from pose_action.extraction.discovery import VideoItem
from pose_action.extraction.job import new_row, process_video
from pose_action.extraction.settings import ExtractSettings
from pose_action.layout import WORKER_LOG, FeaturesLayout

log = logging.getLogger(__name__)

# What a worker imports, loaded once by the forkserver. Their imports start no work on other threads
# (numpy's, OpenCV's and MediaPipe's import-time threads stay idle; a fork carries only the calling one).
WORKER_MODULES = ("pose_action.extraction.pool", "pose_action.extraction.job", "pose_action.extraction.pose",
                  "pose_action.extraction.motion", "pose_action.extraction.appearance")


def _die_with_parent() -> None:
    """Linux: a worker gets SIGKILL when its parent dies (the forkserver, which ends with the run's
    process), so no orphan keeps writing."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    parent = multiprocessing.parent_process()  # the run's process (the forkserver is the direct parent)
    if parent is not None and parent.pid is not None and not _alive(parent.pid):  # it died before prctl took effect
        os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def redirect_native_stderr(log_path: Path | None) -> None:
    """MediaPipe's C++ logging writes start-up chatter for every landmarker to stderr (no
    setting turns it off), which would bury the progress bar: send it to a log file."""
    with contextlib.suppress(OSError):
        descriptor = os.open(log_path or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(descriptor, 2)
        os.close(descriptor)


def _warm_up() -> None:
    """Import the heavy libraries and load MediaPipe's runtime (the first landmarker of a
    process costs ~0.4 s more than the next ones) while the parent is still starting."""
    with contextlib.suppress(Exception):  # only an optimization: the real work reports errors
        from pose_action.extraction.pose import PoseEstimator, vendored_lite_model

        PoseEstimator(vendored_lite_model()).close()


def _worker_main(connection, environment: dict[str, str], cwd: str) -> None:
    """Worker process: receive (video, FEATURES, settings), send back its row; None or a
    closed pipe ends it. It takes the run's environment and folder as they are now (the
    forkserver it was forked from has those of the run's first pool)."""
    _die_with_parent()
    os.environ.clear()
    os.environ.update(environment)
    os.chdir(cwd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    redirect_native_stderr(None)
    _warm_up()
    log_path = None
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        item, out_root, settings = message
        if log_path != FeaturesLayout(out_root).worker_log:
            log_path = FeaturesLayout(out_root).worker_log
            redirect_native_stderr(log_path)
        connection.send(process_video(item, out_root, settings))


def _describe_exit(exitcode: int | None) -> str:
    """Why a worker died, as a user can act on it."""
    if exitcode is not None and exitcode < 0:
        with contextlib.suppress(ValueError):
            name = signal.Signals(-exitcode).name
            cause = {"SIGKILL": " (killed: out of memory?)", "SIGSEGV": " (a crash in native code: "
                     "decoder or pose model)", "SIGABRT": " (aborted in native code)"}.get(name, "")
            return f"crashed with {name}{cause}"
    return f"exited unexpectedly (exit code {exitcode})"


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    connection: Connection
    item: VideoItem | None = None


class WorkerPool:
    """Worker processes that run process_video, one video at a time each.

    Each worker gets its video through its own pipe, so the parent always knows which video
    a worker holds: if the worker dies (a segfault in native code, the OOM killer), that
    video is recorded `failed` and a fresh worker takes the next one. Workers are forked from
    a forkserver, a fresh process that has imported the worker's libraries (WORKER_MODULES) but
    never run a landmarker: MediaPipe's working threads do not survive a fork, and the run's own
    process may hold TensorFlow's. The libraries are imported once per process (~1 s) instead of
    once per worker, and a worker (or the one replacing a crashed worker) starts in about the time
    its landmarker takes to load (~0.4 s). Create the pool early: the workers load their
    landmarkers while the parent goes on.
    """

    def __init__(self, size: int) -> None:
        self._context: multiprocessing.context.ForkServerContext | multiprocessing.context.SpawnContext
        if "forkserver" in multiprocessing.get_all_start_methods():
            self._context = multiprocessing.get_context("forkserver")
            self._context.set_forkserver_preload(list(WORKER_MODULES))
        else:  # Windows: spawned, each worker importing its libraries
            self._context = multiprocessing.get_context("spawn")
        self._workers = [self._start() for _ in range(max(1, size))]

    def _start(self) -> _Worker:
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(target=_worker_main, args=(child_end, dict(os.environ), os.getcwd()),
                                        daemon=True, name="pose-action-extract")
        process.start()
        child_end.close()
        return _Worker(process, parent_end)

    def run(self, items: list[VideoItem], out_root: Path, settings: ExtractSettings,
            on_row: Callable[[dict], None]) -> None:
        """process_video over items; on_row gets every row (a dead worker's video: failed)."""
        pending = deque(items)
        for index in range(len(self._workers)):
            self._feed(index, pending, out_root, settings)
        while any(worker.item is not None for worker in self._workers):
            busy = [worker for worker in self._workers if worker.item is not None]
            wait([w.connection for w in busy] + [w.process.sentinel for w in busy])
            for index, worker in enumerate(self._workers):
                if worker.item is None:
                    continue
                row = _receive(worker)
                if row is not None:
                    on_row(row)
                    self._feed(index, pending, out_root, settings)
                elif not worker.process.is_alive():
                    on_row(_crashed_row(worker, settings))
                    worker.item = None
                    if pending:
                        self._replace(index)
                        self._feed(index, pending, out_root, settings)

    def _feed(self, index: int, pending: deque, out_root: Path, settings: ExtractSettings) -> None:
        """Give worker `index` the next video; a worker that cannot take it is replaced."""
        while pending:
            worker = self._workers[index]
            item = pending.popleft()
            try:
                worker.connection.send((item, out_root, settings))
            except (OSError, ValueError):  # it died between two videos
                pending.appendleft(item)
                self._replace(index)
                continue
            worker.item = item
            return
        self._workers[index].item = None

    def _replace(self, index: int) -> None:
        worker = self._workers[index]
        with contextlib.suppress(OSError):
            worker.connection.close()
        worker.process.join(timeout=5)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        self._workers[index] = self._start()

    def close(self) -> None:
        """Stop the workers: idle ones finish cleanly, busy ones (Ctrl-C, error) are killed."""
        for worker in self._workers:
            with contextlib.suppress(OSError, ValueError):
                if worker.process.is_alive() and worker.item is None:
                    worker.connection.send(None)
        for worker in self._workers:
            worker.process.join(timeout=5 if worker.item is None else 0)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            with contextlib.suppress(OSError):
                worker.connection.close()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_local(items: list[VideoItem], out_root: Path, settings: ExtractSettings, workers: int,
              on_row: Callable[[dict], None]) -> None:
    """The default runner of extract(): a WorkerPool of min(workers, videos) processes."""
    with WorkerPool(min(workers, len(items))) as pool:
        pool.run(items, out_root, settings, on_row)


def _receive(worker: _Worker) -> dict | None:
    """The worker's row if it has sent one, else None (still working, or dead)."""
    try:
        if worker.connection.poll():
            return worker.connection.recv()
    except (EOFError, OSError, ValueError, pickle.UnpicklingError):  # died mid-message
        pass
    return None


def _crashed_row(worker: _Worker, settings: ExtractSettings) -> dict:
    worker.process.join(timeout=5)
    item = worker.item
    assert item is not None  # only a worker holding a video is checked for a crash
    row = new_row(item, settings)
    row["error"] = (f"the worker process {_describe_exit(worker.process.exitcode)} while "
                    f"extracting this video; its messages are in {WORKER_LOG}")
    log.debug("worker died on %s", item.path)
    return row



def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)

