"""Several people in a frame: link each frame's poses into tracks and choose the main actor.

Asked for more than one pose, MediaPipe returns the people of a frame in no stable order, so
"the first pose" can be a different person from one frame to the next (the landmark track
jumps). `Tracker` links each frame's detections to the tracks alive so far with an optimal
assignment (`scipy.optimize.linear_sum_assignment`) on a distance between two people:

    cost = |predicted torso centre - centre| / torso size      (position, in body units)
         + 2 * |log(size / track size)|                        (a nearer or farther person)
         + 0.5 * mean |pose_a - pose_b|                        (body shape, centred and in torso units)

where x is scaled by the frame's aspect ratio (so x and y share a unit), the torso centre is
the mean of both shoulders and hips, the torso size the distance from mid-shoulders to
mid-hips, and the prediction moves the last centre on at the track's velocity. A pair whose
centre is more than `STEP_GATE` torso sizes from the prediction (plus `GAP_STEP` per missed
frame), whose torso is 1.5 times larger or smaller (`SCALE_GATE`), or costing more than
`MAX_COST` (plus `GAP_COST` per missed frame), is not linked: a person's torso moves far less
than that between two frames, so a pose that jumps there is somebody else (the landmarker
handing one person's pose over to another as they pass). A pose with a hint (the
people finder's number for the person it followed into this frame: extraction.pose.PeopleFinder)
that equals the hint of a track's last pose links to it at cost 0 unless its centre is more than
`HINT_GATE` torso sizes from the prediction: the finder's crops follow a person whose landmarks
jitter too much from frame to frame for the gates above (people cut off by the frame edge, low
confidence). A track survives
`max_gap` processed frames without a detection (a person hidden for a moment keeps its
identity); after that, the person is a new track.

The **main actor** is the track with the highest score, each term in 0..1:

    score = 0.45 * presence   (share of the processed frames the track is in)
          + 0.30 * size       (median torso size / the largest track's)
          + 0.15 * motion     (median movement of its joints about its centre per frame / the largest)
          + 0.10 * centrality (1 - distance of its mean centre from the frame centre / half the diagonal)

so the person in the clip longest and nearest the camera wins over a passer-by, and of two
people present throughout (a sparring pair) the larger, more active, more central one.
Tracks are numbered by score: track 0 is the main actor, track 1 the second most important.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pose_action.landmarks import INDEX, X, Y

DEFAULT_MAX_GAP = 12  # processed frames a track survives unseen (about half a second at 25 fps)
MAX_COST = 1.5
GAP_COST = 0.25  # the allowed cost grows with every missed frame: the prediction gets looser
STEP_GATE = 0.5  # torso sizes between the predicted and the found centre, one frame on
GAP_STEP = 0.3
SHAPE_WEIGHT = 0.5
SCALE_WEIGHT = 2.0  # depth tells people apart where they overlap in the image
HINT_GATE = 1.5  # torso sizes a hinted pose may be from its track's prediction (a hand-over jumps farther)
SCALE_GATE = 0.8  # = a torso 1.5 times larger or smaller: somebody nearer or farther, not the same person
WEIGHTS = {"presence": 0.45, "size": 0.30, "motion": 0.15, "centrality": 0.10}
SHOULDERS = (INDEX["left_shoulder"], INDEX["right_shoulder"])
HIPS = (INDEX["left_hip"], INDEX["right_hip"])
MIN_SIZE = 1e-3


def body_geometry(points: np.ndarray, aspect: float) -> tuple[np.ndarray, float, np.ndarray]:
    """(torso centre (2,), torso size, (33, 2) pose centred and in torso units) of one (33, C) pose.

    Positions are in frame heights (x scaled by width / height)."""
    xy = points[:, [X, Y]].astype(np.float64) * np.array([aspect, 1.0])
    shoulders, hips = xy[list(SHOULDERS)].mean(axis=0), xy[list(HIPS)].mean(axis=0)
    centre = (shoulders + hips) / 2
    size = max(float(np.linalg.norm(shoulders - hips)), MIN_SIZE)
    return centre, size, (xy - centre) / size


@dataclass
class _Track:
    ident: int
    last_row: int
    centre: np.ndarray
    size: float
    shape: np.ndarray
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    hint: int = -1
    rows: int = 0
    sizes: list[float] = field(default_factory=list)
    centres: list[np.ndarray] = field(default_factory=list)
    motions: list[float] = field(default_factory=list)

    def add(self, row: int, centre: np.ndarray, size: float, shape: np.ndarray) -> None:
        if self.rows:
            steps = max(row - self.last_row, 1)
            self.velocity = 0.5 * self.velocity + 0.5 * (centre - self.centre) / steps
            self.motions.append(float(np.abs(shape - self.shape).mean()) / steps)
        self.last_row, self.centre, self.size, self.shape = row, centre, size, shape
        self.rows += 1
        self.sizes.append(size)
        self.centres.append(centre)


class Tracker:
    """Online linking: `update` once per processed frame, in order (extraction and live inference)."""

    def __init__(self, aspect: float, max_gap: int = DEFAULT_MAX_GAP) -> None:
        self.aspect = float(aspect)
        self.max_gap = int(max_gap)
        self.tracks: list[_Track] = []
        self.rows = 0

    def _cost(self, track: _Track, row: int, centre: np.ndarray, size: float, shape: np.ndarray,
              hint: int = -1) -> float:
        """The cost of linking a pose to a track; infinite beyond the gates."""
        gap = row - track.last_row
        predicted = track.centre + track.velocity * gap
        position = float(np.linalg.norm(centre - predicted)) / max(size, track.size)
        if hint >= 0 and hint == track.hint:
            return 0.0 if position <= HINT_GATE else math.inf
        scale = SCALE_WEIGHT * abs(math.log(size / track.size))
        form = float(np.abs(shape - track.shape).mean())
        cost = position + scale + SHAPE_WEIGHT * form
        if (position > STEP_GATE + GAP_STEP * (gap - 1) or scale > SCALE_GATE
                or cost > MAX_COST + GAP_COST * (gap - 1)):
            return math.inf
        return cost

    def update(self, people: list[np.ndarray], hints: list[int] | None = None) -> list[int]:
        """Track id of each of this frame's poses (a new id for a person not seen before); `hints`:
        the people finder's number of each pose (-1: none)."""
        from scipy.optimize import linear_sum_assignment  # only extraction with --max-people > 1 needs scipy

        row = self.rows
        self.rows += 1
        geometry = [body_geometry(points, self.aspect) for points in people]
        alive = [track for track in self.tracks if row - track.last_row <= self.max_gap + 1]
        hints = list(hints) if hints is not None else [-1] * len(people)
        track_ids = [-1] * len(people)
        if alive and people:
            cost = np.array([[self._cost(track, row, *g, hint) for g, hint in zip(geometry, hints)] for track in alive])
            cost = np.where(np.isfinite(cost), cost, 1e6)
            for t, d in zip(*linear_sum_assignment(cost)):
                if cost[t, d] < 1e6:
                    track_ids[d] = alive[t].ident
                    alive[t].add(row, *geometry[d])
                    alive[t].hint = hints[d]
        for d, ident in enumerate(track_ids):
            if ident < 0:
                track = _Track(len(self.tracks), row, *geometry[d], hint=hints[d])
                track.add(row, *geometry[d])
                self.tracks.append(track)
                track_ids[d] = track.ident
        return track_ids

    def scores(self) -> np.ndarray:
        """Each track's main-actor score (module docstring), in track id order."""
        if not self.tracks:
            return np.zeros(0)
        presence = np.array([t.rows for t in self.tracks]) / max(self.rows, 1)
        sizes = np.array([float(np.median(t.sizes)) for t in self.tracks])
        motions = np.array([float(np.median(t.motions)) if t.motions else 0.0 for t in self.tracks])
        middle = np.array([self.aspect / 2, 0.5])
        half_diagonal = float(np.linalg.norm(middle))
        centrality = np.array([1.0 - min(1.0, float(np.linalg.norm(np.mean(t.centres, axis=0) - middle))
                                         / half_diagonal) for t in self.tracks])
        terms = {"presence": presence, "size": sizes / sizes.max(),
                 "motion": motions / motions.max() if motions.max() > 0 else motions,
                 "centrality": centrality}
        return sum(WEIGHTS[name] * values for name, values in terms.items())


@dataclass(frozen=True)
class Tracking:
    """The tracks of one clip: `track_ids[row]` is the track of each pose of processed frame `row`,
    tracks numbered by score (0 = the main actor)."""

    track_ids: list[list[int]]
    scores: np.ndarray  # (tracks,) in track order: descending
    switches_repaired: int

    @property
    def tracks(self) -> int:
        return len(self.scores)

    def person(self, people: list[list[np.ndarray]], track: int = 0) -> list[np.ndarray | None]:
        """One track's pose per processed frame (None where it is not seen): track 0 is the main actor."""
        return [next((points for points, ident in zip(frame, idents) if ident == track), None)
                for frame, idents in zip(people, self.track_ids)]


def link_tracks(people: list[list[np.ndarray]], aspect: float, max_gap: int = DEFAULT_MAX_GAP,
                hints: list[list[int]] | None = None) -> Tracking:
    """Tracks of a whole clip (`people[row]`: the poses of processed frame `row`, MediaPipe's order;
    `hints[row]`: the people finder's number of each, see Tracker).

    `switches_repaired` counts the frames where MediaPipe's first pose is a different track
    from the previous frame's first pose: jumps the one-person landmark track would have made."""
    tracker = Tracker(aspect, max_gap)
    raw = [tracker.update(frame, None if hints is None else hints[row]) for row, frame in enumerate(people)]
    scores = tracker.scores()
    order = np.argsort(-scores, kind="stable")
    rank = {int(ident): position for position, ident in enumerate(order)}
    track_ids = [[rank[ident] for ident in frame] for frame in raw]
    firsts = [frame[0] for frame in track_ids if frame]
    switches = sum(1 for before, after in zip(firsts, firsts[1:]) if before != after)
    return Tracking(track_ids=track_ids, scores=scores[order], switches_repaired=switches)
