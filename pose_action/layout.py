"""The FEATURES folder: the contract between extraction and training, and the only module that knows its paths."""

from __future__ import annotations

from pathlib import Path

CONFIG_FILE = "extract_config.json"
MANIFEST_FILE = "manifest.csv"
LOCK_FILE = ".extract.lock"
WORKER_LOG = "extract_workers.log"  # native (C++) messages of the worker processes
OUTPUT_KINDS = ("landmarks", "frames", "embeddings")


def remove_stale_temp_files(out_root: Path) -> None:
    """Temp files of writes a killed run never finished (hidden, so no reader takes them)."""
    for kind in OUTPUT_KINDS:
        for stale in (out_root / kind).rglob(".*.tmp*"):
            stale.unlink(missing_ok=True)
    for stale in out_root.glob(".*.tmp*"):
        stale.unlink(missing_ok=True)
