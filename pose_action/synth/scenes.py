"""Scenes behind the drawn actors: backgrounds, occluders, and colours that keep the figure visible.

Every random choice comes from `keyed_rng`, keyed by stable values, so the same seed gives
the same scene on any machine and in any order.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable

import cv2
import numpy as np

SHAKE_MARGIN = 4  # background pixels kept around the frame for camera shake


# ----------------------------------------------------------------------------- randomness

def keyed_rng(*keys: int | str) -> np.random.Generator:
    """A generator keyed by stable values (strings hashed with CRC32, never Python's hash())."""
    return np.random.default_rng([zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in keys])



def hsv_color(rng: np.random.Generator, saturation: tuple[float, float],
               value: tuple[float, float]) -> tuple[int, int, int]:
    hsv = np.array([[[rng.integers(0, 180), rng.uniform(*saturation) * 255, rng.uniform(*value) * 255]]], np.uint8)
    blue, green, red = (int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])
    return blue, green, red


def jitter_color(rng: np.random.Generator, color: tuple[int, int, int], amount: int) -> tuple[int, int, int]:
    shifted = (int(c + rng.integers(-amount, amount + 1)) for c in color)
    blue, green, red = (max(0, min(255, c)) for c in shifted)
    return blue, green, red


def color_distance(first: tuple[int, int, int], second: tuple[int, int, int]) -> float:
    """Perceptual (CIELAB) distance between two BGR colours."""
    lab = cv2.cvtColor(np.array([[first, second]], np.uint8), cv2.COLOR_BGR2LAB).astype(np.float32)
    return float(np.linalg.norm(lab[0, 0] - lab[0, 1]))


def pick_color(rng: np.random.Generator, sample: Callable[[], tuple[int, int, int]],
               avoid: Iterable[tuple[int, int, int]], minimum: float = 45.0, tries: int = 40,
               ) -> tuple[int, int, int]:
    """A sampled colour that stands out from `avoid` (the best of `tries` if none does):
    a figure that melts into its background is not found by the pose model."""
    avoid = list(avoid)
    best, best_distance = None, -1.0
    for _ in range(tries):
        color = sample()
        distance = min((color_distance(color, other) for other in avoid), default=np.inf)
        if distance >= minimum:
            return color
        if distance > best_distance:
            best, best_distance = color, distance
    return best  # type: ignore[return-value]  # None only with tries=0, which no caller passes


# ----------------------------------------------------------------------------- scenes

def _noise(image: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    noisy = image.astype(np.int16) + rng.normal(0, amount, image.shape[:2])[..., None].astype(np.int16)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _vertical_gradient(image: np.ndarray, top: int, bottom: int, start: tuple, end: tuple) -> None:
    rows = max(1, bottom - top)
    weights = np.linspace(0, 1, rows)[:, None]
    image[top:bottom] = (np.array(start)[None, :] * (1 - weights) + np.array(end)[None, :] * weights)[:, None, :]


def make_background(kind: str, seed: int, width: int, height: int, horizon: int, ground: int,
                    upper_avoid: Iterable[tuple[int, int, int]] = (),
                    lower_avoid: Iterable[tuple[int, int, int]] = (), head: tuple[int, int] | None = None,
                    ) -> np.ndarray:
    """A static scene a little larger than the frame (camera shake crops it).

    Its main colours keep away from the actor's: walls and sky from `upper_avoid` (shirt,
    skin, hair), floors and grass from `lower_avoid` (trousers, shoes). And no edge
    crosses the rows `head` (top, bottom) where the head is: clutter right behind the head
    makes the pose model lose the figure or swap its left and right."""
    rng = keyed_rng(seed, kind, "background")
    head_top, head_bottom = head if head is not None else (0, 0)

    def clear_of_head(row: int, size: int = 0) -> int:
        """Move a horizontal band [row, row + size) out of the head rows (above them if it fits)."""
        if row + size < head_top or row > head_bottom:
            return row
        above = head_top - size - 1
        return above if above >= height // 20 else head_bottom + 1

    upper_avoid, lower_avoid = list(upper_avoid), list(lower_avoid)
    pick = lambda sample, minimum=60.0: pick_color(rng, sample, upper_avoid, minimum)
    pick_floor = lambda sample, minimum=60.0: pick_color(rng, sample, lower_avoid, minimum)
    palette = lambda *colors, spread=15: lambda: jitter_color(rng, colors[rng.integers(len(colors))], spread)
    image = np.zeros((height, width, 3), np.uint8)
    white = (245, 245, 245)
    if kind == "room":
        image[:horizon] = pick(lambda: hsv_color(rng, (0.05, 0.35), (0.55, 0.9)))
        # Wood, tiles or carpet: floors are rarely as saturated as clothes.
        image[horizon:] = pick_floor(palette((60, 100, 150), (90, 140, 190), (120, 120, 120), (70, 80, 90),
                                       (150, 170, 190), (40, 60, 90), (170, 170, 160), spread=15))
        baseboard = jitter_color(rng, (235, 235, 235), 15)
        cv2.rectangle(image, (0, horizon - max(2, height // 60)), (width, horizon), baseboard, -1)
        for _ in range(rng.integers(1, 3)):  # pictures and windows
            x0 = int(rng.uniform(0.0, 0.8) * width)
            w, h = int(rng.uniform(0.12, 0.25) * width), int(rng.uniform(0.2, 0.4) * height)
            y0 = int(horizon * rng.uniform(0.15, 0.45))
            y1 = min(y0 + h, horizon - 4)
            if y1 >= head_top and y0 <= head_bottom:  # edges at head height: hang it higher or lower
                y0 = clear_of_head(y0, y1 - y0)
                y1 = min(y0 + h, horizon - 4)
            if y1 - y0 < h // 2:
                continue  # no room on the wall
            cv2.rectangle(image, (x0, y0), (x0 + w, y1), (240, 240, 240), -1)
            cv2.rectangle(image, (x0 + 3, y0 + 3), (x0 + w - 3, y1 - 3),
                          pick(lambda: hsv_color(rng, (0.2, 0.7), (0.5, 1.0)), 30.0), -1)
    elif kind == "park":
        _vertical_gradient(image, 0, horizon, (235, 190, 140), (250, 235, 220))
        grass = pick_floor(palette((60, 150, 80), (50, 120, 90), (70, 160, 120), spread=20))
        image[horizon:] = grass
        tree_color = pick(palette((40, 100, 40), (30, 80, 50), spread=20), 35.0)
        for _ in range(rng.integers(5, 12)):  # distant trees, kept low: clutter behind the head hides it
            x = int(rng.uniform(0, width))
            r = int(rng.uniform(0.03, 0.07) * height)
            r = max(2, min(r, (horizon - head_bottom) // 2))
            cv2.circle(image, (x, horizon - r // 2), r, tree_color, -1, cv2.LINE_AA)
        for _ in range(12):  # tufts of grass
            center = (int(rng.uniform(0, width)), int(rng.uniform(horizon, height)))
            tuft = tuple(int(c) for c in np.clip(np.array(grass) + rng.integers(-18, 19), 0, 255))
            cv2.ellipse(image, center, (int(rng.uniform(10, 40)), int(rng.uniform(3, 8))), 0, 0, 360,
                        tuft, -1, cv2.LINE_AA)
    elif kind == "gym":
        image[:horizon] = pick(palette((200, 205, 210), (170, 200, 220), (210, 190, 170), spread=20))
        stripe = pick(lambda: hsv_color(rng, (0.5, 0.9), (0.4, 0.8)), 30.0)
        stripe_top = clear_of_head(int(horizon * 0.55), int(horizon * 0.07))
        cv2.rectangle(image, (0, stripe_top), (width, stripe_top + int(horizon * 0.07)), stripe, -1)
        floor = np.array(pick_floor(palette((80, 140, 190), (90, 160, 210), (60, 110, 160))))
        image[horizon:] = floor
        for y in range(horizon, height, max(4, height // 25)):  # floor boards
            cv2.line(image, (0, y), (width, y), tuple(int(c) for c in floor * 0.85), 1)
    elif kind == "court":
        image[:horizon] = pick(palette((40, 90, 40), (120, 60, 30), (60, 60, 60)))  # windbreak
        # hard court, grass, clay
        image[horizon:] = pick_floor(palette((150, 100, 40), (70, 130, 60), (60, 100, 190), spread=12))
        cv2.line(image, (0, horizon + 3), (width, horizon + 3), white, 2, cv2.LINE_AA)
        court_center = width // 2 + int(rng.uniform(-0.2, 0.2) * width)
        for offset in (-0.45, -0.3, 0.3, 0.45):
            top = (court_center + int(offset * width * 0.8), horizon + 3)
            cv2.line(image, top, (court_center + int(offset * width * 2.2), height), white, 2, cv2.LINE_AA)
        service = horizon + (ground - horizon) // 3
        half_court = int(0.3 * width)
        cv2.line(image, (court_center - half_court, service), (court_center + half_court, service), white, 2,
                 cv2.LINE_AA)
        net_top = clear_of_head(horizon + (service - horizon) // 2 - height // 10, height // 10)
        net_bottom = net_top + height // 10
        for x in range(0, width, 4):
            cv2.line(image, (x, net_top), (x, net_bottom), (50, 50, 50), 1)
        for y in range(net_top, net_bottom, 4):
            cv2.line(image, (0, y), (width, y), (50, 50, 50), 1)
        cv2.line(image, (0, net_top), (width, net_top), white, 2)
    elif kind == "field":
        sky_bottom = clear_of_head(int(horizon * 0.55))
        _vertical_gradient(image, 0, sky_bottom, (230, 170, 110), (245, 220, 190))
        image[sky_bottom:horizon] = pick(palette((50, 80, 30), (40, 60, 20), (90, 60, 30), spread=12))  # outfield wall
        cv2.line(image, (0, sky_bottom), (width, sky_bottom), (40, 200, 230), 2)
        stripe_color = np.array(pick_floor(palette((50, 140, 60), (60, 160, 90))))
        band = max(6, (height - horizon) // 5)
        for index, y in enumerate(range(horizon, height, band)):
            image[y:y + band] = np.clip(stripe_color + (12 if index % 2 else -6), 0, 255)  # mowing stripes
        dirt = pick_floor(palette((80, 120, 170), (70, 110, 150), (100, 140, 190), spread=12))
        infield = (int(width * 0.7), height // 2 + (height - horizon) // 3)
        cv2.ellipse(image, (width // 2, height + height // 6), infield,
                    0, 180, 360, dirt, -1, cv2.LINE_AA)
        home = (width // 2 + int(rng.uniform(-0.25, 0.25) * width), ground + 3)
        for direction in (-1, 1):  # foul lines
            cv2.line(image, home, (home[0] + direction * width, home[1] - (height - horizon)), white, 2, cv2.LINE_AA)
        cv2.circle(image, home, 4, (250, 250, 250), -1, cv2.LINE_AA)
    else:
        raise ValueError(f"unknown background {kind!r}")
    return _noise(image, rng, 3.0)


def draw_occluder(frame: np.ndarray, occluder: tuple[str, float, float], figure_x: float, ground: float,
                   scale: float) -> None:
    """A box in front of the legs or a pole in front of one side: partial occlusion."""
    kind, position, size = occluder
    if kind == "box":
        center = figure_x + position * 0.15 * scale
        half_width, box_height = 0.22 * scale * size, 0.22 * scale * size
        corners = (int(center - half_width), int(ground - box_height)), (int(center + half_width), int(ground + 4))
        cv2.rectangle(frame, *corners, (40, 90, 140), -1)
        cv2.rectangle(frame, *corners, (25, 60, 100), 2)
    else:
        x = int(figure_x + (0.04 + 0.14 * abs(position)) * scale * (1 if position >= 0 else -1))
        half = max(2, int(0.025 * scale * size))
        cv2.rectangle(frame, (x - half, 0), (x + half, frame.shape[0]), (110, 110, 120), -1)


