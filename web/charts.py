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
    #: Every point drawn as a dot, so one evaluation still shows: (css class, x, y, value).
    dots: tuple[tuple[str, float, float, float], ...] = ()

    @property
    def single(self) -> bool:
        """One point per series: a value, not yet a trend."""
        return len(self.dots) <= len(self.series)


def line_chart(rows: list[dict], keys: list[tuple[str, str, str]], width: int = 640,
               height: int = 180) -> LineChart | None:
    """``keys``: (row key, label, css class). None when there is nothing to draw."""
    if not rows:
        return None
    pad_left, pad_bottom, pad_top = 8, 22, 10
    top = max([float(r.get(k) or 0) for r in rows for k, _, _ in keys] + [1.0])
    n = len(rows)
    step = (width - 2 * pad_left) / max(n - 1, 1)

    def x_of(i: int) -> float:
        # A lone point sits in the middle, not against the left edge.
        return width / 2 if n == 1 else pad_left + i * step

    def y_of(value: float) -> float:
        return pad_top + (height - pad_top - pad_bottom) * (1 - value / top)

    series, dots = [], []
    for key, label, css in keys:
        values = [float(r.get(key) or 0) for r in rows]
        series.append((label, css, " ".join(f"{x_of(i):.1f},{y_of(v):.1f}" for i, v in enumerate(values))))
        dots += [(css, round(x_of(i), 1), round(y_of(v), 1), v) for i, v in enumerate(values)]
    every = max(1, n // 6)
    labels = [(x_of(i), str(r.get("as_of") or r.get("evaluation")))
              for i, r in enumerate(rows) if i % every == 0]
    return LineChart(width, height, series, labels, top, tuple(dots))
