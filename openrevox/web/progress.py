"""A campaign's rows by status over time, rebuilt from its attempts, and the chart that shows it.

Pure: rows and attempts in (as the campaign store reads them), a series and bar geometry out.
A row's status at a moment: `pending` before its first dial, `calling` while an attempt runs,
`completed` once a human answered, and between attempts `retry` — or, after its last attempt,
what it ended as (`completed`, or `failed` for errored and cancelled). A row cancelled before it
was ever dialed has no moment of its own: it counts as pending until the last point, which is now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

STATUSES = ("completed", "failed", "retry", "calling", "pending")  # stacked bottom to top
FAILED = frozenset({"errored", "cancelled"})
TERMINAL = FAILED | {"completed"}


def status_at(order: dict, attempts: list[dict], moment: datetime, *, last_point: bool) -> str:
    """`order`: {status}; `attempts`: its dialed attempts (started_at, ended_at, result)."""
    started = [a for a in attempts if a["started_at"] is not None and a["started_at"] <= moment]
    if any(a["ended_at"] is None or a["ended_at"] > moment for a in started):
        return "calling"
    if any(a["result"] == "human" for a in started):
        return "completed"
    after_last_attempt = bool(started) and len(started) == len(attempts)
    if order["status"] in TERMINAL and (after_last_attempt or last_point):
        return "failed" if order["status"] in FAILED else "completed"
    return "retry" if started else "pending"


def series(orders: list[dict], attempts: list[dict], start: datetime, end: datetime, points: int = 30) -> list[tuple[datetime, dict[str, int]]]:
    """Counts of rows per status at `points` moments from `start` to `end` (the last one is `end`)."""
    by_order: dict[str, list[dict]] = {o["id"]: [] for o in orders}
    for a in attempts:
        by_order.setdefault(a["order_id"], []).append(a)
    step = (end - start) / max(points - 1, 1)
    out = []
    for i in range(points):
        moment = end if i == points - 1 else start + step * i
        counts = dict.fromkeys(STATUSES, 0)
        for o in orders:
            counts[status_at(o, by_order[o["id"]], moment, last_point=i == points - 1)] += 1
        out.append((moment, counts))
    return out


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    status: str
    count: int
    moment: datetime


def stacked_bars(points: list[tuple[datetime, dict[str, int]]], total: int, width: float, height: float) -> list[Bar]:
    """One stacked bar per moment, as SVG rectangles (y grows downwards), full height = `total` rows."""
    if not points or total == 0:
        return []
    slot = width / len(points)
    bars = []
    for i, (moment, counts) in enumerate(points):
        top = height
        for status in STATUSES:
            h = height * counts[status] / total
            if h:
                top -= h
                bars.append(Bar(round(i * slot + 1, 2), round(top, 2), round(slot - 2, 2), round(h, 2), status, counts[status], moment))
    return bars
