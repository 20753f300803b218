#!/usr/bin/env python3
"""Download and unpack UCF50 (6,618 clips, 50 classes, 25 groups; ~3.2 GB RAR) into DEST/UCF50.

Resumable: an interrupted download continues where it stopped (HTTP Range). Unpacking needs
one of `unrar`, `7z` or `bsdtar` on PATH (Debian: `apt-get install unrar-free` or `p7zip-full`).
Offline, it stops with one line saying what to do instead.

    python scripts/download_ucf50.py data/
    pose-action extract data/UCF50 --out data/features
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

URL = "https://www.crcv.ucf.edu/data/UCF50.rar"
EXPECTED_CLASSES = 50


def download(url: str, destination: Path) -> Path:
    """Fetch `url` into `destination`, resuming a partial `.part` file."""
    from tqdm import tqdm

    partial = destination.with_suffix(destination.suffix + ".part")
    done = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except (urllib.error.URLError, OSError) as error:
        raise SystemExit(f"download_ucf50: cannot reach {url} ({getattr(error, 'reason', error)}); "
                         f"download it elsewhere and put it at {destination}") from None
    with response:
        if done and response.status != 206:  # server ignored Range: start over
            done = 0
        total = int(response.headers.get("Content-Length", 0)) + done
        with open(partial, "ab" if done else "wb") as out, tqdm(
                total=total or None, initial=done, unit="B", unit_scale=True, desc=destination.name) as bar:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                bar.update(len(block))
    partial.replace(destination)
    return destination


def unpack(archive: Path, target: Path) -> None:
    """Unpack the RAR with whichever extractor is installed."""
    for tool, command in (("unrar", ["unrar", "x", "-o+", str(archive), str(target) + "/"]),
                          ("7z", ["7z", "x", "-y", f"-o{target}", str(archive)]),
                          ("bsdtar", ["bsdtar", "-xf", str(archive), "-C", str(target)])):
        if shutil.which(tool):
            subprocess.run(command, check=True)
            return
    raise SystemExit(f"download_ucf50: {archive} is a RAR archive; install unrar, 7z (p7zip-full) "
                     f"or bsdtar and run this again")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dest", type=Path, help="folder that will hold UCF50.rar and UCF50/")
    parser.add_argument("--url", default=URL, help="mirror of UCF50.rar (default: the UCF CRCV site)")
    args = parser.parse_args(argv)
    args.dest.mkdir(parents=True, exist_ok=True)
    videos = args.dest / "UCF50"
    if videos.is_dir() and sum(1 for p in videos.iterdir() if p.is_dir()) >= EXPECTED_CLASSES:
        print(f"{videos} already holds {EXPECTED_CLASSES} classes; nothing to do")
        return 0
    archive = args.dest / "UCF50.rar"
    if not archive.exists():
        download(args.url, archive)
    unpack(archive, args.dest)
    classes = sum(1 for p in videos.iterdir() if p.is_dir()) if videos.is_dir() else 0
    if classes != EXPECTED_CLASSES:
        raise SystemExit(f"download_ucf50: expected {EXPECTED_CLASSES} class folders in {videos}, found {classes}")
    features = args.dest / "features"
    print(f"UCF50 ready: {videos} ({classes} classes). Next: pose-action extract {videos} --out {features}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
