"""The symbols on an ink map: which strokes form one symbol (``find_symbols``), which are
the page's edge or a desk rather than writing, the order to read them in (``reading_order``),
and one symbol's own ink (``crop_box``). Used by ``engine.data.preprocess`` and the photo path of
``engine.nn.live``."""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, w, h
MAX_PARTS = 300  # the largest ink components considered when grouping strokes into symbols
SMALL = 64  # px: an image with a shorter side (e.g. already 28×28) is one symbol and has one
# paper level (``engine.data.preprocess``)


def page_edges(stats: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Which components (rows of OpenCV's stats: x, y, w, h, area) are not writing: those that
    touch the image's edge (a desk, the page's edge, a neighbour cut off), frames around other
    ink (where a dark desk meets the page: a band three quarters of the image wide and high with
    something inside) and thin lines across three quarters of it (a sliver of a page's edge)."""
    h, w = shape
    x0, y0, x1, y1 = stats[:, 0], stats[:, 1], stats[:, 0] + stats[:, 2], stats[:, 1] + stats[:, 3]
    edge = (x0 == 0) | (y0 == 0) | (x1 == w) | (y1 == h)
    within = (x0[None] >= x0[:, None]) & (y0[None] >= y0[:, None])
    within &= (x1[None] <= x1[:, None]) & (y1[None] <= y1[:, None])
    np.fill_diagonal(within, False)
    frame = (stats[:, 2] >= 0.75 * w) & (stats[:, 3] >= 0.75 * h) & within.any(1)
    span = (stats[:, 2] >= 0.75 * w) | (stats[:, 3] >= 0.75 * h)
    sparse = stats[:, 4] < 0.03 * stats[:, 2] * stats[:, 3]  # a thin line along a page's edge
    return edge | frame | (span & sparse)


def find_symbols(ink: np.ndarray, max_symbols: int = 12) -> list[Box]:
    """Boxes of the symbols in an ink map, largest first. Strokes closer than a fifth of their
    height join one symbol (a broken stroke); a part too small to be a symbol (under a tenth of
    the largest symbol's ink or a third of the tallest) joins the nearest symbol within 30% of
    the tallest's height (a 5's bar or bowl), else it is a speck. Ink touching the image's edge (a
    desk, a neighbour cut off) and a frame around the rest (the band where a dark desk meets
    the page) are dropped, unless nothing else is there."""
    mask = (ink > 0.5).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return []
    stats = stats[1:]
    if min(mask.shape) < SMALL:  # a small image is one symbol: all its ink but specks
        keep = stats[stats[:, cv2.CC_STAT_AREA] >= 0.1 * stats[:, cv2.CC_STAT_AREA].max()]
        x0, y0 = keep[:, 0].min(), keep[:, 1].min()
        x1, y1 = (keep[:, 0] + keep[:, 2]).max(), (keep[:, 1] + keep[:, 3]).max()
        return [(int(x0), int(y0), int(x1 - x0), int(y1 - y0))]
    stats = stats[np.argsort(-stats[:, cv2.CC_STAT_AREA])[:MAX_PARTS]]
    page = ~page_edges(stats, mask.shape)
    if page.any():  # before grouping: a desk or a page's edge would swallow the rest
        stats = stats[page]
    big = stats[:, cv2.CC_STAT_AREA].max()
    stats = stats[stats[:, cv2.CC_STAT_AREA] >= min(big, max(2, 0.02 * big))]
    x0, y0, x1, y1 = stats[:, 0], stats[:, 1], stats[:, 0] + stats[:, 2], stats[:, 1] + stats[:, 3]
    groups = np.stack([x0, y0, x1, y1, stats[:, 4]], 1).astype(np.float64)  # box and ink area
    while len(groups) > 1:  # join groups whose margins (a tenth of each one's height) overlap
        m = 0.1 * (groups[:, 3] - groups[:, 1])
        lo_x, hi_x = groups[:, 0] - m, groups[:, 2] + m
        lo_y, hi_y = groups[:, 1] - m, groups[:, 3] + m
        touch = (lo_x[:, None] <= hi_x[None]) & (lo_x[None] <= hi_x[:, None])
        touch &= (lo_y[:, None] <= hi_y[None]) & (lo_y[None] <= hi_y[:, None])
        label = _components(touch)
        if label.max() + 1 == len(groups):
            break
        groups = np.stack(
            [
                [*g[:, :2].min(0), *g[:, 2:4].max(0), g[:, 4].sum()]
                for g in (groups[label == k] for k in range(label.max() + 1))
            ]
        )
    groups = groups.astype(int).tolist()
    most = max(g[4] for g in groups)
    tallest = max(g[3] - g[1] for g in groups)
    keep = [g for g in groups if g[4] >= 0.1 * most and g[3] - g[1] >= tallest / 3]
    keep = keep or [max(groups, key=lambda g: g[4])]  # a flat symbol beside a tall thin speck
    for part in (g for g in groups if g not in keep):  # a detached bar or bowl joins its symbol
        gaps = [_gap(part, k) for k in keep]
        if min(gaps) <= 0.3 * tallest:
            near = keep[int(np.argmin(gaps))]
            near[:] = [*map(min, near[:2], part[:2]), *map(max, near[2:4], part[2:4]), near[4]]
    keep.sort(key=lambda g: -g[4])
    return [(g[0], g[1], g[2] - g[0], g[3] - g[1]) for g in keep[:max_symbols]]


def _gap(a: list[int], b: list[int]) -> int:
    """The gap in px between two boxes (x0, y0, x1, y1, ...): 0 when they touch or overlap."""
    return max(b[0] - a[2], a[0] - b[2], b[1] - a[3], a[1] - b[3], 0)


def reading_order(boxes: list[Box]) -> list[int]:
    """The order to read boxes in: rows from the top (a box whose centre lies within half a
    height of a row's centre joins it), each row left to right → indices into ``boxes``."""
    order = sorted(range(len(boxes)), key=lambda i: boxes[i][1] + boxes[i][3] / 2)
    rows: list[list[int]] = []
    for i in order:
        cy, h = boxes[i][1] + boxes[i][3] / 2, boxes[i][3]
        if rows:
            last = rows[-1]
            centre = np.mean([boxes[j][1] + boxes[j][3] / 2 for j in last])
            if abs(cy - centre) < 0.5 * max(h, max(boxes[j][3] for j in last)):
                last.append(i)
                continue
        rows.append([i])
    return [i for r in rows for i in sorted(r, key=lambda i: boxes[i][0])]


def _components(adjacent: np.ndarray) -> np.ndarray:
    """Connected components of a symmetric boolean adjacency matrix → a label per node."""
    label = -np.ones(len(adjacent), int)
    for start in range(len(adjacent)):
        if label[start] < 0:
            todo, label[start] = [start], label.max() + 1
            while todo:
                for j in np.flatnonzero(adjacent[todo.pop()] & (label < 0)):
                    label[j] = label[start]
                    todo.append(j)
    return label


def crop_box(ink: np.ndarray, box: Box) -> np.ndarray:
    """The ink of one symbol: its box, with ink outside the symbol's own strokes (a neighbour
    reaching in) cleared; the soft edges of its strokes stay."""
    x, y, w, h = box
    crop = ink[y : y + h, x : x + w]
    kept = (crop > 0.5).astype(np.uint8)
    near = cv2.dilate(kept, np.ones((3, 3), np.uint8), iterations=2) > 0
    return np.where(near, crop, 0)
