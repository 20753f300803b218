"""The FEATURES folder: the contract between extraction and training, and the only module that knows its paths.

    FEATURES/
      landmarks/<Class>/<clip>.csv               one row per processed frame (pose_action.landmarks)
      frames/<Class>/<clip>.npz                  thumbnails and the source frames they show
      embeddings/<backbone>/<Class>/<clip>.npz   frozen CNN vectors of the same frames (--embed)
      people/<Class>/<clip>.csv                  every tracked person, frame by frame (--max-people N > 1;
                                                 pose_action.people)
      motion/<Class>/<clip>.npz                  optical-flow vectors of every processed frame (--motion)
      manifest.csv                               one row per video (extraction.manifest)
      extract_config.json                        the settings every file was made with
      extract_workers.log                        native messages of the extraction workers
      .extract.lock                              one extraction at a time
      inspect_report.csv, inspect_report_classes.csv   written by `pose-action inspect FEATURES`

A clip's `key` is "<Class>/<clip>": the same relative path under every kind of output. Both
parts must be plain names (`check_key`), so no key, wherever it was read, leads outside FEATURES.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from pose_action.errors import InputError
from pose_action.files import name_problem

LANDMARKS_DIR = "landmarks"
THUMBNAILS_DIR = "frames"
EMBEDDINGS_DIR = "embeddings"
PEOPLE_DIR = "people"
MOTION_DIR = "motion"
OUTPUT_DIRS = (LANDMARKS_DIR, THUMBNAILS_DIR, EMBEDDINGS_DIR, PEOPLE_DIR, MOTION_DIR)
MANIFEST_FILE = "manifest.csv"
CONFIG_FILE = "extract_config.json"
WORKER_LOG = "extract_workers.log"
LOCK_FILE = ".extract.lock"
REPORT_FILE = "inspect_report.csv"
TEMP_PATTERN = ".*.tmp*"  # files.atomic_path's temp files: hidden, so no reader takes them
# Exactly atomic_path's names (".<stem>.<8 random characters>.tmp<suffix>"): only these are ever deleted,
# so a user's own hidden files in an output folder are safe.
TEMP_NAME = re.compile(r"^\..*\.[a-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)?$")


def check_key(key: str) -> str:
    """`key` if it is "<Class>/<clip>" of two plain names; InputError otherwise (it would lead outside FEATURES)."""
    parts = str(key).split("/")
    problems = [name_problem(part) for part in parts]
    if len(parts) != 2 or any(problems):
        reason = next((f"{part!r} {problem}" for part, problem in zip(parts, problems) if problem),
                      "expected <Class>/<clip>")
        raise InputError(f"clip key {key!r}: {reason}; it cannot name a file inside a features folder")
    return key


@dataclass(frozen=True)
class ClipFiles:
    """The files of one extracted clip."""

    landmarks: Path
    thumbnails: Path
    embeddings: Path | None
    people: Path | None = None  # only with --max-people N > 1
    motion: Path | None = None

    def all(self) -> list[Path]:
        return [path for path in (self.landmarks, self.thumbnails, self.embeddings, self.people, self.motion)
                if path is not None]


@dataclass(frozen=True, init=False)
class FeaturesLayout:
    """Paths inside one FEATURES folder (nothing is created or read by building one)."""

    root: Path

    def __init__(self, root: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "root", Path(root))  # a str or PathLike is welcome

    def landmarks(self, key: str) -> Path:
        return self.landmarks_dir / f"{check_key(key)}.csv"

    def thumbnails(self, key: str) -> Path:
        return self.thumbnails_dir / f"{check_key(key)}.npz"

    def embeddings(self, backbone: str, key: str) -> Path:
        if name_problem(backbone):
            raise InputError(f"embedding backbone {backbone!r}: {name_problem(backbone)}")
        return self.root / EMBEDDINGS_DIR / backbone / f"{check_key(key)}.npz"

    def people(self, key: str) -> Path:
        """Every tracked person of a clip (pose_action.people)."""
        return self.root / PEOPLE_DIR / f"{check_key(key)}.csv"

    def motion(self, key: str) -> Path:
        return self.motion_dir / f"{check_key(key)}.npz"

    def appearance(self, key: str, appearance: str, backbone: str | None) -> Path | None:
        """A clip's thumbnails or embeddings file for a feature config's appearance kind (None: none)."""
        if appearance == "thumbs":
            return self.thumbnails(key)
        if appearance == "embeddings":
            return self.embeddings(str(backbone), key)
        return None

    def clip_files(self, key: str, embed: str | None, motion: bool = False, people: bool = False) -> ClipFiles:
        """Every file extraction writes for one clip (embeddings only with `embed`, a backbone; motion
        with `motion`; the people file only with `people`, i.e. --max-people above 1)."""
        return ClipFiles(landmarks=self.landmarks(key), thumbnails=self.thumbnails(key),
                         embeddings=self.embeddings(embed, key) if embed else None,
                         people=self.people(key) if people else None,
                         motion=self.motion(key) if motion else None)

    @property
    def landmarks_dir(self) -> Path:
        return self.root / LANDMARKS_DIR

    @property
    def thumbnails_dir(self) -> Path:
        return self.root / THUMBNAILS_DIR

    @property
    def motion_dir(self) -> Path:
        return self.root / MOTION_DIR

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST_FILE

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def worker_log(self) -> Path:
        return self.root / WORKER_LOG

    @property
    def lock(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def report(self) -> Path:
        return self.root / REPORT_FILE

    def read_config(self) -> dict | None:
        """extract_config.json, or None when there is none; InputError naming the file if it is unreadable.

        The one reader of the file: extraction (is this folder made with the same settings?),
        its Dask workers (do they see this folder?) and training (what made these features?).
        """
        path = self.config
        if path.exists() and not path.is_file():
            raise InputError(f"{path}: not a regular file, not an extraction config")
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise InputError(f"{path}: not a readable extraction config ({error})") from None
        if not isinstance(values, dict):
            raise InputError(f"{path}: not an extraction config (expected a JSON object)")
        return values

    def remove_stale_temp_files(self) -> None:
        """Temp files of writes that a killed run never finished."""
        for name in OUTPUT_DIRS:
            for stale in (self.root / name).rglob(TEMP_PATTERN):
                if TEMP_NAME.match(stale.name) and stale.is_file():
                    stale.unlink(missing_ok=True)
        for stale in self.root.glob(TEMP_PATTERN):
            if TEMP_NAME.match(stale.name) and stale.is_file():
                stale.unlink(missing_ok=True)

    def landmark_csvs(self) -> tuple[Path, list[Path]]:
        """(folder holding <Class>/<clip>.csv, the CSVs): FEATURES/landmarks, or the folder itself.

        Hidden files and what inspect and extract write beside the CSVs are left out.
        """
        folder = self.landmarks_dir if self.landmarks_dir.is_dir() else self.root
        report_stem = Path(REPORT_FILE).stem
        csvs = sorted(path for path in folder.rglob("*.csv")
                      if not any(part.startswith(".") for part in path.relative_to(folder).parts)
                      and path.name != MANIFEST_FILE and not path.name.startswith(report_stem))
        return folder, csvs


def clip_of_landmarks(csv_path: str | os.PathLike) -> tuple[FeaturesLayout, str] | None:
    """(FEATURES, key) of a FEATURES/landmarks/<Class>/<clip>.csv path, or None outside that layout."""
    csv_path = Path(csv_path).absolute()
    if len(csv_path.parents) < 3 or csv_path.parents[1].name != LANDMARKS_DIR:
        return None
    return FeaturesLayout(csv_path.parents[2]), f"{csv_path.parent.name}/{csv_path.stem}"
