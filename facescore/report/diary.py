"""The photo diary's outputs: trend plots (matplotlib, PNG), a self-contained HTML page and
the tidy table (CSV), written whole or not at all."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from ..analysis import DISCLAIMER
from ..anatomy import SIDES
from ..diary import POSITIONS, REST, TABLE_COLUMNS, Diary
from ..display import NONE, number
from ..outputs import atomic_directory
from ..uncertainty import NORMAL_SYMMETRY_PCT
from .figures import NARROW, SIDE_COLOURS, TITLES, _png
from .writer import _environment

#: File names in the output folder.
HTML, CSV = "diary.html", "diary.csv"


def trend_file(movement: str) -> str:
    """The trend plot's file name for one movement."""
    return f"trend_{movement}.png"


def trend_figure(diary: Diary, movement: str, width_in: float = 7.5,
                 fontsize: float = 9) -> bytes:
    """One expression's course over the series: each side's excursion with its 95 % interval
    (top), the symmetry with its interval and the normal-variation line (bottom), and the
    side named weaker at each date ("R", "L"; "–" when none is named).

    Parameters
    ----------
    width_in : float
        Figure width, inches (at 110 dpi).
    fontsize : float
        Size of the labels, points.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    photos = [p for p in diary.photos if p.expression == movement]
    dated = diary.dated
    x = ([p.date.taken for p in photos] if dated else [p.order + 1 for p in photos])
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(width_in, 0.62 * width_in + 0.6),
                                         sharex=True, height_ratios=(3, 2))
    for side in SIDES:
        values = [p.excursion.get(side) for p in photos]
        xs = [xi for xi, v in zip(x, values, strict=True) if v is not None]
        ys = [v.value for v in values if v is not None]
        errors = np.array([[v.value - v.low, v.high - v.value] for v in values
                           if v is not None]).T.reshape(2, -1)
        top.errorbar(xs, ys, yerr=errors, color=SIDE_COLOURS[side], marker="o", ms=4,
                     lw=1.4, capsize=2, label=f"patient's {side}")
    top.set_ylabel("excursion (mm)", fontsize=fontsize)
    top.set_title(TITLES.get(movement, movement), fontsize=fontsize + 1)
    top.legend(fontsize=fontsize - 1, loc="upper left")
    top.set_ylim(bottom=min(0.0, top.get_ylim()[0]))
    sym = [(xi, p.symmetry) for xi, p in zip(x, photos, strict=True) if p.symmetry is not None]
    if sym:
        xs = [xi for xi, _ in sym]
        values = np.array([s.value for _, s in sym])
        low = np.array([s.low if np.isfinite(s.low) else s.value for _, s in sym])
        high = np.array([s.high if np.isfinite(s.high) else s.value for _, s in sym])
        bottom.errorbar(xs, values, yerr=[values - low, high - values], color="#444",
                        marker="o", ms=4, lw=1.2, capsize=2)
    bottom.axhline(NORMAL_SYMMETRY_PCT, color="#2ca02c", lw=1, ls="--")
    bottom.text(0.005, NORMAL_SYMMETRY_PCT - 2, f"{NORMAL_SYMMETRY_PCT:g} % (normal variation)",
                transform=bottom.get_yaxis_transform(), fontsize=fontsize - 2, va="top",
                color="#2ca02c")
    bottom.set_ylim(0, 112)
    bottom.set_ylabel("symmetry (%)", fontsize=fontsize)
    for xi, p in zip(x, photos, strict=True):
        mark = {"left": "L", "right": "R"}.get(p.weaker_side or "", "–")
        colour = SIDE_COLOURS.get(p.weaker_side or "", "#777")
        bottom.annotate(mark, (xi, 104), ha="center", fontsize=fontsize, color=colour,
                        fontweight="bold" if p.weaker_side else "normal")
    bottom.text(1.0, 1.02, "weaker side: R / L, – none named", transform=bottom.transAxes,
                ha="right", fontsize=fontsize - 2, color="#555")
    if dated:
        if len(x) <= 12:  # a tick at each photo's date
            bottom.set_xticks(x)
        bottom.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
        figure.autofmt_xdate(rotation=30)
    else:
        bottom.set_xlabel("photo (order given)", fontsize=fontsize)
        bottom.set_xticks(x)
    for ax in (top, bottom):
        ax.tick_params(labelsize=fontsize - 1)
        ax.grid(alpha=0.3)
    figure.tight_layout()
    return _png(figure)


def figures_for(diary: Diary) -> dict[str, tuple[bytes, bytes]]:
    """Per measured expression with at least one measured photo: the wide and the narrow
    (phone) trend plot."""
    out = {}
    for movement in diary.expressions():
        if any(p.expression == movement and p.excursion for p in diary.photos):
            narrow = {k: NARROW[k] for k in ("width_in", "fontsize")}
            out[movement] = (trend_figure(diary, movement),
                             trend_figure(diary, movement, **narrow))
    return out


def render_html(diary: Diary, images: dict[str, tuple[bytes, bytes]]) -> str:
    """The self-contained diary page (plots inline as base64; no external resources)."""
    b64 = lambda data: base64.b64encode(data).decode("ascii")  # noqa: E731
    return _environment().get_template("diary.html.j2").render(
        d=diary, fmt=number, dash=NONE, sides=SIDES, rest=REST, positions=POSITIONS,
        images={m: (b64(w), b64(n)) for m, (w, n) in images.items()},
        disclaimer=DISCLAIMER, columns=TABLE_COLUMNS)


def write_diary(diary: Diary, out_dir: str | Path, narrow: bool = False) -> dict[str, Path]:
    """Write ``diary.html``, ``diary.csv`` and one ``trend_<expression>.png`` per measured
    expression into ``out_dir``, all or none (:func:`facescore.outputs.atomic_directory`).

    ``narrow``: also each plot laid out for a phone, ``trend_<expression>_narrow.png``.

    Returns
    -------
    dict of str to Path
        ``html``, ``csv`` and ``trend_<expression>`` → where each was written.
    """
    out_dir = Path(out_dir)
    images = figures_for(diary)
    html = render_html(diary, images)
    names = {"html": HTML, "csv": CSV} | {f"trend_{m}": trend_file(m) for m in images}
    with atomic_directory(out_dir) as staging:
        diary.table().to_csv(staging / CSV, index=False, float_format="%.3f")
        (staging / HTML).write_text(html, encoding="utf-8")
        for movement, (wide, small) in images.items():
            (staging / trend_file(movement)).write_bytes(wide)
            if narrow:
                (staging / trend_file(movement).replace(".png", "_narrow.png")).write_bytes(small)
    return {key: out_dir / name for key, name in names.items()}
