"""Several people in a stream (`predict`/`live --max-people N`): whom the recognizer reads, chosen online.

Extraction links a clip's poses with `extraction.tracking.Tracker` and, once the clip is over,
names the track with the highest main-actor score the main actor. A stream has no end to wait
for, so `MainActor` links each processed frame's poses with the same `Tracker` as it arrives,
and chooses the main actor with the same score, computed over everything seen so far:

- at every prediction, among the tracks seen in the prediction's window, the track with the
  highest running score (`Tracker.scores`: presence, size, motion, centrality since the
  stream started) becomes the main actor, unless the main actor of the previous prediction
  is in the window and the best beats it by less than `HYSTERESIS` (0.1 of a score that spans
  0..1): two people of about the same importance do not hand the label back and forth;
- between predictions the main actor stays, unless it has not been seen for longer than the
  tracker keeps a track (`max_gap` processed frames: the person left); then the best-scoring
  track of the current frame takes over at once, for the time being (the first person seen
  starts as main the same way): the next prediction chooses without hysteresis.

The scores keep every frame of the stream (the tracker's history): a choice costs about 7 ms
after 10 minutes of two people at 30 fps (measured on a loaded machine), and grows with the
stream's length.

At the end of a clip the running scores are exactly extraction's scores for that clip, so the
first prediction over a whole clip reads the person extraction wrote into the landmark CSV,
with the same rounded landmarks: the same arrays as training.
"""

from __future__ import annotations

import numpy as np

from pose_action.extraction.tracking import DEFAULT_MAX_GAP, Tracker

HYSTERESIS = 0.1  # score lead a challenger needs over the current main actor


class MainActor:
    """A Tracker plus the online main-actor choice (module docstring): one per stream or video."""

    def __init__(self, aspect: float, max_gap: int = DEFAULT_MAX_GAP, hysteresis: float = HYSTERESIS) -> None:
        self.tracker = Tracker(aspect, max_gap)
        self.hysteresis = float(hysteresis)
        self.track: int | None = None  # the main actor's track id (Tracker numbering: order of appearance)
        self.provisional = True  # not chosen at a prediction yet: the next choice ignores it
        self._last_seen: dict[int, int] = {}  # track id -> last processed row it was found in

    def update(self, people: list[np.ndarray]) -> tuple[int, ...]:
        """Link one processed frame's poses (MediaPipe's order); their track ids."""
        tracks = tuple(self.tracker.update(people))
        row = self.tracker.rows - 1
        for track in tracks:
            self._last_seen[track] = row
        if tracks and (self.track is None or row - self._last_seen[self.track] > self.tracker.max_gap):
            self.track = self.best(tracks)  # nobody yet, or the main actor left: the best present now
            self.provisional = True
        return tracks

    def choose(self, candidates: set[int] | list[int] | tuple[int, ...]) -> int | None:
        """At a prediction: the main actor among the tracks seen in its window (with hysteresis)."""
        candidates = sorted(set(candidates))
        if not candidates:
            return self.track
        scores = self.tracker.scores()
        best = self.best(candidates, scores)
        if not self.provisional and self.track in candidates and best != self.track:
            if scores[best] < scores[self.track] + self.hysteresis:
                return self.track
        self.track, self.provisional = best, False
        return best

    def best(self, candidates, scores: np.ndarray | None = None) -> int:
        """The highest-scoring candidate (the lowest id of a tie, as extraction's stable sort)."""
        scores = self.tracker.scores() if scores is None else scores
        return max(candidates, key=lambda track: (scores[track], -track))


def pose_of(people: tuple[np.ndarray, ...], tracks: tuple[int, ...], track: int | None) -> np.ndarray | None:
    """The pose of `track` among one frame's people, or None where it is not seen."""
    return next((points for points, ident in zip(people, tracks) if ident == track), None)
