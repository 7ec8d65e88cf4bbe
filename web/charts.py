"""Small server-drawn SVG charts (no JavaScript, no CDN): a line chart of values over evaluations."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    series: list[tuple[str, str, str]]   # (label, css class, polyline points)
    labels: list[tuple[float, str]]      # (x, text) along the bottom
    top: float                           # the value of the top gridline


def line_chart(rows: list[dict], keys: list[tuple[str, str, str]], width: int = 640,
               height: int = 180) -> LineChart | None:
    """``keys``: (row key, label, css class). None when there is nothing to draw."""
    if not rows:
        return None
    pad_left, pad_bottom, pad_top = 8, 22, 10
    top = max([float(r.get(k) or 0) for r in rows for k, _, _ in keys] + [1.0])
    n = len(rows)
    step = (width - 2 * pad_left) / max(n - 1, 1)

    def point(i: int, value: float) -> str:
        x = pad_left + i * step
        y = pad_top + (height - pad_top - pad_bottom) * (1 - value / top)
        return f"{x:.1f},{y:.1f}"

    series = [(label, css, " ".join(point(i, float(r.get(key) or 0)) for i, r in enumerate(rows)))
              for key, label, css in keys]
    every = max(1, n // 6)
    labels = [(pad_left + i * step, str(r.get("as_of") or r.get("evaluation")))
              for i, r in enumerate(rows) if i % every == 0]
    return LineChart(width, height, series, labels, top)
