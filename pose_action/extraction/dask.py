"""Run `pose-action extract` on a Dask distributed cluster (`--scheduler local|tcp://HOST:PORT`).

The per-video job is job.process_video, unchanged: it loads what it needs itself, writes
atomically and returns a manifest row, so a Dask worker can run it as well as a local worker
process. This module adds what a cluster needs on top:

- the workers see FEATURES and the videos at the same absolute paths (a shared folder); this
  is checked on every worker before any video is sent, and again on each video (a worker
  that joins later), so a worker never writes outputs into a private folder of its own;
- each worker finds the pose model itself (the path the client resolved if it can read it,
  else the same named model: the vendored lite, or full/heavy from its own cache) and must
  have the very file the client hashed (SHA-256), since extract_config.json names it;
- a worker that dies mid-video (a crash in native code, the OOM killer, a lost machine) has
  its video rescheduled by Dask; after `distributed.scheduler.allowed-failures` deaths Dask
  gives up with KilledWorker, and the video gets a `failed` row saying so. Any other error
  of a task is a `failed` row too: no video is silently lost;
- only about one video per worker thread is in flight: the client never holds thousands of
  futures, and a dying worker takes no innocent queued video down with it (Dask counts every
  task assigned to a dead worker as suspicious, not only the one that killed it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pose_action.errors import InputError
from pose_action.extraction.discovery import VideoItem
from pose_action.extraction.job import new_row, process_video
from pose_action.extraction.pool import redirect_native_stderr
from pose_action.extraction.settings import ExtractSettings
from pose_action.layout import FeaturesLayout

if TYPE_CHECKING:
    from distributed import Client, Future

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler before giving up with one line
LOCAL = "local"
TASK_PREFIX = "pose-action-extract"  # Dask groups the tasks by this (dashboard, scheduling)


# ----------------------------------------------------------------------------- on a worker


@functools.cache
def _local_model(model_path: str, model_name: str, sha256: str) -> Path:
    """The pose model file on this worker: the client's path if readable, else the same named
    model resolved here; it must be the file the client hashed (the config names it)."""
    from pose_action.extraction.pose import POSE_MODELS, file_sha256, resolve_model

    path = Path(model_path)
    if not path.is_file():
        if model_name not in POSE_MODELS:
            raise InputError(f"{model_path}: pose model not readable on worker "
                             f"{socket.gethostname()} (put it in a folder every worker sees)")
        path = resolve_model(model_name)
    if file_sha256(path) != sha256:
        raise InputError(f"{path}: the pose model on worker {socket.gethostname()} differs from the "
                         f"client's (SHA-256 {sha256[:12]}...); install the same version everywhere")
    return path


def _sees_features(out_root: str, config_id: str) -> bool:
    """Whether this machine sees the client's FEATURES folder: the config the client just
    wrote there names this run's settings (so a same-named private folder does not pass)."""
    try:
        config = FeaturesLayout(out_root).read_config()
    except InputError:
        return False
    return config is not None and config.get("config_id") == config_id


@functools.cache
def _confirmed_features(out_root: str, config_id: str) -> bool:
    """Raises until this worker sees FEATURES; cached once it does (a cheap check per video)."""
    if not _sees_features(out_root, config_id):
        raise InputError(f"{out_root}: worker {socket.gethostname()} does not see this output "
                         f"folder (FEATURES must be a shared folder at the same path on every worker)")
    return True


@functools.cache
def _native_log_to(path: str) -> None:
    """Send this worker process's native (MediaPipe C++) messages to FEATURES' worker log, once."""
    redirect_native_stderr(Path(path))


def worker_problem(out_root: str, settings: ExtractSettings) -> str | None:
    """Run on each worker before the videos: why it cannot extract into out_root, or None."""
    try:
        _confirmed_features(out_root, settings.config_id)
        _local_model(str(settings.model_path), settings.model_name, settings.model_sha256)
    except InputError as error:
        return str(error)
    return None


def extract_on_worker(item: VideoItem, out_root: str, settings: ExtractSettings,
                      native_log: bool = False) -> dict:
    """The Dask task: process_video with this worker's own model path; a worker that cannot
    see FEATURES or lacks the model returns a `failed` row instead of writing anywhere."""
    if native_log:
        _native_log_to(str(FeaturesLayout(out_root).worker_log))
    try:
        _confirmed_features(out_root, settings.config_id)
        model = _local_model(str(settings.model_path), settings.model_name, settings.model_sha256)
    except InputError as error:
        row = new_row(item, settings)
        row["error"] = str(error)
        return row
    local = dataclasses.replace(settings, model_path=model)
    row = process_video(item, Path(out_root), local)
    row["config_id"] = settings.config_id  # the same model bytes: the client's settings
    return row


# ----------------------------------------------------------------------------- on the client


def _absolute(item: VideoItem) -> VideoItem:
    """Workers may run in another folder: give them absolute paths (symlinks kept as named)."""
    return dataclasses.replace(item, path=Path(os.path.abspath(item.path)))


def _failure_text(error: BaseException) -> str:
    """A task's exception as a manifest error a user can act on."""
    from distributed.scheduler import KilledWorker

    if isinstance(error, KilledWorker):
        return (f"the Dask worker process died while extracting this video, "
                f"{error.allowed_failures + 1} times on different workers (a crash in native code, "
                f"or killed: out of memory?); see the workers' logs")
    return f"on the Dask cluster: {type(error).__name__}: {error}"


@dataclasses.dataclass
class DaskRunner:
    """An extract() runner that sends process_video jobs to a Dask cluster.

    Rows reach on_row as the videos finish (as_completed). At most `in_flight` videos are
    submitted at a time (default: one per worker thread, recounted as workers come and go).
    `native_log`: the workers are ours (a LocalCluster), so their native messages go to
    FEATURES/extract_workers.log as with local worker processes.
    """

    client: Client
    native_log: bool = False
    in_flight: int | None = None

    def __call__(self, items: list[VideoItem], out_root: Path, settings: ExtractSettings,
                 workers: int, on_row: Callable[[dict], None]) -> None:
        from distributed import as_completed

        out_root = Path(os.path.abspath(out_root))
        self._check_workers(str(out_root), settings)
        run_id = uuid.uuid4().hex[:8]
        pending = [_absolute(item) for item in reversed(items)]  # pop() takes them in order
        submitted: dict[Future, VideoItem] = {}
        completed = as_completed()
        try:
            self._refill(pending, submitted, completed, str(out_root), settings, run_id)
            for future in completed:
                item = submitted.pop(future)
                row = self._row_of(future, item, settings)
                future.release()
                # Next video out before the manifest's fsync: the worker is not kept waiting.
                self._refill(pending, submitted, completed, str(out_root), settings, run_id)
                on_row(row)
        except BaseException:  # Ctrl-C or a lost scheduler: queued videos must not run on
            with contextlib.suppress(Exception):
                self.client.cancel(list(submitted))
            raise
        FeaturesLayout(out_root).remove_stale_temp_files()  # of writes by workers that died mid-video

    def _limit(self) -> int:
        if self.in_flight is not None:
            return max(1, self.in_flight)
        return max(1, sum(self.client.nthreads().values()))

    def _refill(self, pending: list[VideoItem], submitted: dict[Future, VideoItem], completed, out_root: str,
                settings: ExtractSettings, run_id: str) -> None:
        limit = self._limit() if pending else 0
        while pending and len(submitted) < limit:
            item = pending.pop()
            future = self.client.submit(extract_on_worker, item, out_root, settings,
                                        self.native_log, pure=False,
                                        key=f"{TASK_PREFIX}-{item.key}-{run_id}")
            submitted[future] = item
            completed.add(future)

    def _row_of(self, future, item: VideoItem, settings: ExtractSettings) -> dict:
        from distributed.client import FutureCancelledError

        try:
            return future.result()
        except FutureCancelledError:
            if self.client.status != "running":
                raise InputError(f"lost the connection to the Dask scheduler "
                                 f"{self.client.scheduler.address}; finished videos are kept and "
                                 f"rerunning the command resumes") from None
            error_text = "cancelled on the Dask cluster (its scheduler or client cancelled the task)"
        except Exception as error:  # KilledWorker, or anything else the cluster raised
            error_text = _failure_text(error)
        log.debug("%s: %s", item.path, error_text)
        row = new_row(item, settings)
        row["error"] = error_text
        return row

    def _check_workers(self, out_root: str, settings: ExtractSettings) -> None:
        """Stop before the first video if a worker cannot do the job (one line, exit 2)."""
        if not self.client.nthreads():
            log.info("waiting for Dask workers to join the scheduler ...")
            self.client.wait_for_workers(1)
        try:
            problems = self.client.run(worker_problem, out_root, settings)
        except Exception as error:  # e.g. pose_action is not installed on a worker
            raise InputError(f"the Dask workers cannot run pose-action extract: "
                             f"{type(error).__name__}: {error}") from None
        bad = {address: problem for address, problem in problems.items() if problem}
        if bad:
            address, problem = next(iter(bad.items()))
            others = f" (and {len(bad) - 1} more workers)" if len(bad) > 1 else ""
            raise InputError(f"Dask worker {address}{others}: {problem}")


def _require_dask() -> None:
    try:
        import distributed  # noqa: F401  (its import also sets its loggers' levels)
    except ImportError:
        raise InputError("--scheduler needs Dask: pip install 'pose-action[distributed]'") from None


def quiet_dask_logs() -> None:
    """The command reports failed videos itself; Dask's own messages about dead workers and
    closing connections would bury the progress bar."""
    _require_dask()  # imported first: importing it sets the levels changed here
    names = [name for name in logging.root.manager.loggerDict if name.startswith("distributed.")]
    for name in ["distributed", *names]:  # Dask gives some (distributed.client) their own level
        logging.getLogger(name).setLevel(logging.CRITICAL)


@contextlib.contextmanager
def dask_runner(scheduler: str, *, workers: int = 1,
                timeout: float = CONNECT_TIMEOUT) -> Iterator[DaskRunner]:
    """A DaskRunner on a new LocalCluster (`local`: `workers` processes, 1 thread each) or on
    the running scheduler at `scheduler` (tcp://HOST:PORT); closed on exit."""
    _require_dask()
    import dask
    from distributed import Client, LocalCluster

    if scheduler == LOCAL:
        if workers < 1:
            raise InputError(f"--workers must be at least 1, got {workers}")
        # Loopback only; no dashboard, and its always-on HTTP endpoint on any free port.
        # Without Dask's MALLOC_TRIM_THRESHOLD_ for its workers: process_video trims the heap
        # after each video, and the threshold made every video ~8% slower here.
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=None,
                                   scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                   silence_logs=logging.CRITICAL)
        with cluster, Client(cluster) as client:
            yield DaskRunner(client, native_log=True)
        return
    try:
        client = Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError) as error:
        raise InputError(f"{scheduler}: cannot reach a Dask scheduler there within "
                         f"{timeout:g} s ({type(error).__name__})") from None
    except (ValueError, TypeError) as error:
        raise InputError(f"--scheduler {scheduler!r}: not a Dask scheduler address "
                         f"(use local or tcp://HOST:PORT): {error}") from None
    except Exception as error:  # a server answered, in another protocol or Dask version
        raise InputError(f"{scheduler}: what answered there is not a Dask scheduler this client "
                         f"can talk to ({type(error).__name__})") from None
    with client:
        yield DaskRunner(client)
