"""The extract batch job: every video under VIDEO_ROOT into a FEATURES folder (see pose_action.layout).

`extract` discovers the videos, keeps the ones already done with the same settings (their
manifest rows are the record), and hands the rest to a runner: local worker processes
(`pool`) or a Dask cluster (`dask`). Each row reaches the manifest, flushed to disk, as its
video finishes, so a killed run loses only the videos in flight. `extract_videos` is the
command's entry: it picks the runner.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from pose_action.errors import EXIT_OK, EXIT_PARTIAL, InputError, describe_os_error
from pose_action.extraction.discovery import DEFAULT_GROUP_PATTERN, Discovery, VideoItem, discover
from pose_action.extraction.manifest import ManifestWriter, read_rows
from pose_action.extraction.pool import WorkerPool, run_local
from pose_action.extraction.settings import ExtractSettings, package_versions
from pose_action.files import check_apart, check_writable, escaped_name, write_json, write_text_atomic
from pose_action.layout import CONFIG_FILE, ClipFiles, FeaturesLayout

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- the run


@dataclass
class ExtractReport:
    """What a run did: the rows of the videos it processed, and what it skipped or ignored."""

    rows: list[dict] = field(default_factory=list)  # this run's videos, in finishing order
    skipped: int = 0  # already done with the same settings
    ignored: int = 0  # hidden or non-video files in VIDEO_ROOT
    ungrouped: list[str] = field(default_factory=list)  # keys whose file name --group-pattern did not match
    wall_seconds: float = 0.0
    features: Path | None = None

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows if row["status"] == status)

    @property
    def frames(self) -> int:
        return sum(int(row["frames_processed"] or 0) for row in self.rows)

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if self.count("failed") else EXIT_OK


@contextlib.contextmanager
def _exclusive(layout: FeaturesLayout) -> Iterator[None]:
    """One run at a time per FEATURES folder (two would interleave the manifest)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; running twice is the user's call
        yield
        return
    if layout.lock.is_symlink():  # never ours: opening it would write wherever it points
        layout.lock.unlink()
    try:  # no O_TRUNC and no following a symlink: the lock file's content is never written
        descriptor = os.open(layout.lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as error:
        raise InputError(describe_os_error(error, layout.lock)) from None
    with open(descriptor, "r+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise InputError(f"{layout.root}: another `pose-action extract` is writing here") from None
        yield


def _check_config(layout: FeaturesLayout, config: dict, overwrite: bool) -> None:
    """Refuse to mix two extraction configs in one FEATURES folder (unless --overwrite)."""
    previous = None if overwrite else layout.read_config()
    if previous is None:
        return
    changed = [name for name in config if previous.get(name) != config[name]
               and not (name == "motion" and previous.get(name) is None)]  # adding motion: only its files are made
    if changed:
        raise InputError(
            f"{layout.root}: holds features extracted with other settings (changed: "
            f"{', '.join(changed)}; see {CONFIG_FILE}); pass --overwrite to redo every video "
            f"with the new settings, or choose another --out")


def _keep_folder_looks(layout: FeaturesLayout, settings: ExtractSettings, overwrite: bool) -> ExtractSettings:
    """A folder extracted without the zoom or the exposure (--no-zoom, --no-exposure, or before they
    existed) resumes without them: its clips stay alike, and a run trained on them reads new videos
    as they were read."""
    previous = None if overwrite else layout.read_config()
    if settings.max_people > 1 or not previous:
        return settings
    recorded = previous.get("pose") or {}
    zoom, exposure = settings.zoom and "zoom" in recorded, settings.exposure and "exposure" in recorded
    for name, kept in (("zoom", zoom), ("exposure", exposure)):
        if getattr(settings, name) and not kept:
            log.info("%s was extracted without the %s: this run goes without it too (as --no-%s; "
                     "--overwrite redoes every video with it)", layout.root, name, name)
    return replace(settings, zoom=zoom, exposure=exposure)


def _keep_folder_motion(layout: FeaturesLayout, settings: ExtractSettings, overwrite: bool) -> ExtractSettings:
    """A folder with motion files keeps making them: a rerun without --motion resumes it, it does not redo it."""
    previous = None if overwrite else layout.read_config()
    if settings.motion or not previous or not previous.get("motion"):
        return settings
    log.info("%s holds motion vectors: this run makes them too (as --motion)", layout.root)
    return replace(settings, motion=True)


def _is_done(row: dict | None, item: VideoItem, layout: FeaturesLayout, settings: ExtractSettings) -> bool:
    if row is None or row.get("config_id") != settings.config_id:
        return False
    if row.get("status") not in ("ok", "no_pose"):
        return False  # failed videos are retried: the file may have been fixed
    return _files_sound(layout.clip_files(item.key, settings.embed, settings.motion,
                                         settings.max_people > 1))


def _needs_motion_only(row: dict | None, item: VideoItem, layout: FeaturesLayout, settings: ExtractSettings) -> bool:
    """Done with these settings but without motion (--motion added to the folder): only its motion file is missing."""
    if not settings.motion or row is None or row.get("config_id") != settings.base_config_id:
        return False
    return row.get("status") in ("ok", "no_pose") and _files_sound(layout.clip_files(item.key, settings.embed))


def _files_sound(files: ClipFiles) -> bool:
    """A finished video's files are all there and whole (a truncated copy is redone): headers and ends only."""
    from pose_action.extraction.appearance import stored_shapes  # OpenCV: imported after the workers started
    from pose_action.landmarks import check_complete

    try:
        check_complete(files.landmarks)
        stored_shapes(files.thumbnails, "thumbs")
        if files.embeddings is not None:
            stored_shapes(files.embeddings, "embeddings")
        if files.people is not None:
            check_complete(files.people)
        if files.motion is not None:
            stored_shapes(files.motion, "embeddings")  # the same arrays: vectors, frame_index
    except InputError:
        return False
    return True


def _video_name(item: VideoItem, base: Path) -> str:
    """The video as the manifest names it: relative to VIDEO_ROOT (or the CSV list's folder)."""
    try:
        return item.path.relative_to(base).as_posix()
    except ValueError:
        return str(item.path)


def _escaped_video_name(path: Path, base: Path) -> str:
    """A video's name for the manifest when it holds characters no output name can (a newline): escaped."""
    try:
        parts = path.relative_to(base).parts
    except ValueError:
        parts = path.parts
    return "/".join(escaped_name(part) for part in parts)


def check_outputs_apart(video_root: Path, out_root: Path, discovery: Discovery) -> None:
    """--out is neither the video folder, inside it, nor around it (nor around a listed video)."""
    if video_root.is_dir():
        check_apart(out_root, (video_root,))
    else:
        check_apart(out_root, (video_root, *(item.path for item in discovery.items)))


def extract(video_root: str | os.PathLike, out_root: str | os.PathLike, settings: ExtractSettings,
            *, workers: int = 1, group_pattern: str = DEFAULT_GROUP_PATTERN,
            overwrite: bool = False, progress: bool = False,
            runner: Callable[..., None] = run_local, discovery: Discovery | None = None) -> ExtractReport:
    """Extract every video under video_root into out_root; see the module docstring.

    `runner(items, out_root, settings, workers, on_row)` runs process_video over the items
    (default: local worker processes); the manifest is written as rows arrive.
    """
    started = time.perf_counter()
    video_root, out_root = Path(video_root), Path(out_root)
    discovery = discovery or discover(video_root, group_pattern)
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    base = video_root.parent if video_root.is_file() else video_root
    check_outputs_apart(video_root, out_root, discovery)
    if out_root.exists() and not out_root.is_dir():
        raise InputError(f"{out_root}: exists and is not a folder")
    check_writable(out_root)  # a read-only or full location: one line now, not one failure per video
    report = ExtractReport(ignored=discovery.ignored, ungrouped=discovery.ungrouped, features=out_root)
    _warn_ungrouped(discovery.ungrouped, len(discovery.items), group_pattern)
    layout = FeaturesLayout(out_root)
    with _exclusive(layout):
        settings = _keep_folder_looks(layout, settings, overwrite)
        settings = _keep_folder_motion(layout, settings, overwrite)
        config = settings.config()
        _check_config(layout, config, overwrite)
        layout.remove_stale_temp_files()
        write_text_atomic(layout.worker_log, "")  # this run's messages only (replaces, never writes through a symlink)
        write_json(layout.config, {"config_id": settings.config_id, **config, "versions": package_versions()})
        previous = {row["key"]: row for row in read_rows(layout.manifest)}
        by_key = {item.key: item for item in discovery.items}
        keep, todo, motion_only = [], [], {}
        for item in discovery.items:
            row = previous.get(item.key)
            if not overwrite and row is not None and _is_done(row, item, layout, settings):
                keep.append({**row, "video": _video_name(item, base), "label": item.label,
                             "group": item.group, "group_from": item.group_from})
            elif not overwrite and row is not None and _needs_motion_only(row, item, layout, settings):
                motion_only[item.key] = {**row, "video": _video_name(item, base), "label": item.label,
                                         "group": item.group, "group_from": item.group_from,
                                         "config_id": settings.config_id}
            else:
                todo.append(item)
        keep += [row for key, row in previous.items()
                 if key not in by_key and row.get("config_id") == settings.config_id]
        report.skipped = len(discovery.items) - len(todo) - len(motion_only)
        if report.skipped:
            log.info("%d of %d videos already extracted with these settings: skipped",
                     report.skipped, len(discovery.items))
        if motion_only:
            log.info("%d videos extracted without motion: adding only their motion files", len(motion_only))
        # Longest files first: the last video to finish is then a short one.
        todo.sort(key=lambda item: (-_size(item.path), item.key))
        with ManifestWriter(layout.manifest, keep) as writer:
            for bad in discovery.bad_names:  # names no output can carry: failed, and the batch goes on
                row = {"key": bad.key, "video": _escaped_video_name(bad.path, base), "label": bad.label,
                       "status": "failed", "error": bad.reason, "config_id": settings.config_id,
                       "frames_processed": ""}
                writer.append(row)
                report.rows.append(row)
                log.warning("failed: %s: %s", row["video"], bad.reason)
            _run_with_progress(todo, out_root, settings, workers, writer, report, progress,
                               base, runner, motion_only=[by_key[key] for key in motion_only],
                               motion_rows=motion_only)
    report.wall_seconds = time.perf_counter() - started
    return report


def _warn_ungrouped(ungrouped: list[str], total: int, group_pattern: str) -> None:
    """A --group-pattern that does not fit the names makes clips their own groups: say so, with examples."""
    if not ungrouped:
        return
    examples = ", ".join(ungrouped[:3]) + (", ..." if len(ungrouped) > 3 else "")
    log.warning("%d of %d file names do not match --group-pattern %r (%s): each of these clips is its own group, "
                "so group-aware splits cannot keep one actor's clips together", len(ungrouped), total,
                group_pattern, examples)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _run_with_progress(todo: list[VideoItem], out_root: Path, settings: ExtractSettings,
                       workers: int, writer: ManifestWriter, report: ExtractReport,
                       progress: bool, base: Path, runner: Callable[..., None], *,
                       motion_only: Sequence[VideoItem] = (), motion_rows: dict[str, dict] | None = None) -> None:
    """Run the full jobs, then the motion-only ones (whose finished rows are their previous rows, motion added)."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    names = {item.key: _video_name(item, base) for item in [*todo, *motion_only]}
    motion_rows = motion_rows or {}
    started = time.perf_counter()
    with tqdm(total=len(todo) + len(motion_only), desc="extract", unit="video", disable=not progress,
              dynamic_ncols=True) as bar, logging_redirect_tqdm():
        def on_row(row: dict) -> None:
            if row["key"] in motion_rows and row["status"] != "failed":
                row = dict(motion_rows[row["key"]])  # landmarks and thumbnails as they were; motion added
            row["video"] = names.get(row["key"], row["video"])
            writer.append(row)
            report.rows.append(row)
            if row["status"] == "failed":
                log.warning("failed: %s: %s", row["video"], row["error"])
            elapsed = max(time.perf_counter() - started, 1e-9)
            bar.set_postfix(ok=report.count("ok"), no_pose=report.count("no_pose"),
                            failed=report.count("failed"),
                            frames_per_s=f"{report.frames / elapsed:.1f}", refresh=False)
            bar.update(1)

        if todo:
            runner(todo, out_root, settings, workers, on_row)
        if motion_only:
            runner(list(motion_only), out_root, replace(settings, motion_only=True), workers, on_row)


def format_summary(report: ExtractReport) -> str:
    """The table printed at the end of a run."""
    lines = [f"{'status':<10}{'videos':>8}{'frames':>10}"]
    for status in ("ok", "no_pose", "failed"):
        frames = sum(int(r["frames_processed"] or 0) for r in report.rows if r["status"] == status)
        lines.append(f"{status:<10}{report.count(status):>8}{frames:>10}")
    lines.append(f"{'skipped':<10}{report.skipped:>8}{'':>10}  (already done)")
    rate = report.frames / report.wall_seconds if report.wall_seconds else 0.0
    lines.append(f"{report.frames} frames in {report.wall_seconds:.1f} s ({rate:.1f} frames/s); "
                 f"{report.ignored} non-video or hidden files ignored")
    if report.ungrouped:
        lines.append(f"{len(report.ungrouped)} clips matched no group in their file name (--group-pattern): each "
                     "is its own group (group_from = stem in the manifest)")
    noted = sum(1 for row in report.rows if row.get("note") and row["status"] == "ok")
    if noted:
        lines.append(f"{noted} ok videos have a note (truncated file, no frame rate): see the manifest")
    if report.count("failed"):
        assert report.features is not None  # extract() always names the folder
        lines.append(f"failed videos are listed with the reason in {FeaturesLayout(report.features).manifest}")
    return "\n".join(lines)


def extract_videos(video_root: str | os.PathLike, out_root: str | os.PathLike,
                   settings: Callable[[], ExtractSettings], *, workers: int, scheduler: str | None = None,
                   group_pattern: str = DEFAULT_GROUP_PATTERN, overwrite: bool = False,
                   progress: bool = True) -> ExtractReport:
    """The `extract` command: `extract` on local worker processes, or on Dask with `scheduler`.

    `settings` is called once: after the worker processes are started (their imports overlap
    resolving the pose model), and before a Dask cluster is started or reached (a bad option
    fails first, with one line).
    """
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if not Path(video_root).exists():  # before spawning anything: one line, exit 2
        raise InputError(f"{video_root}: no such folder or video list")
    discovery = discover(video_root, group_pattern)  # bad names or an empty folder: one line before spawning
    check_outputs_apart(Path(video_root), Path(out_root), discovery)
    if Path(out_root).exists() and not Path(out_root).is_dir():
        raise InputError(f"{out_root}: exists and is not a folder")
    check_writable(out_root)
    if scheduler is not None:
        from pose_action.extraction.dask import dask_runner, quiet_dask_logs

        resolved = settings()
        quiet_dask_logs()
        with dask_runner(scheduler, workers=workers) as runner:
            return extract(video_root, out_root, resolved, runner=runner, workers=workers, group_pattern=group_pattern,
                           overwrite=overwrite, progress=progress, discovery=discovery)
    with WorkerPool(min(workers, len(discovery.items))) as pool:  # first: their start-up overlaps ours
        return extract(video_root, out_root, settings(), workers=workers, group_pattern=group_pattern,
                       overwrite=overwrite, progress=progress, discovery=discovery,
                       runner=lambda items, out, chosen, count, on_row: pool.run(items, out, chosen, on_row))
