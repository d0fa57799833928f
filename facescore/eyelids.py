"""How far each eye has narrowed, from its own pixels: the upper lid slides over a still eye.

A closing upper lid moves as a sheet: its margin (the lash line) and the skin just above come
down over the globe, which stays where it was until covered. Each eye's rest picture (cut from
the reference frame) is compared with every frame in two bands, each a one-dimensional search
for the vertical shift that best predicts the frame:

- the *lid band*, from above the upper margin down to the lash line: the lid sheet's shift;
- the *lower band*, a strip of skin just below the lower lid: where the eye region as a whole
  now sits (it moves with head-motion errors, and rises with the lower lid in a smile).

The lid's travel relative to the lower band is how far the aperture narrowed. It needs no
accurate registration of the region (both bands move with it), it never looks at the eye
itself (so gaze shifts do not read as lid travel), and it compares each band by normalised
correlation (so a change of lighting does not either). Each eye is measured from its own
pixels only: there is no left-right prior. Physical bounds hold by construction: the search
never lets the lid travel past the lower lid or open the eye more than half again.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

#: The lid band reaches this many resting apertures above the upper margin…
LID_BAND_ABOVE = 0.6
#: …and this far below it (the lash line itself is the strongest feature).
LID_BAND_BELOW = 0.1
#: The lower band spans this range of resting apertures below the lower lid margin.
LOWER_BAND = (0.15, 0.6)
#: Registration offset searched for the lower band, resting apertures (either way).
REGISTRATION_SEARCH = 0.5
#: Lid travel searched relative to the lower band (negative: wider open): down to this many
#: central resting gaps (1: the lid meets the lower lid at the eye's centre, where the gap is
#: widest), up to this many resting apertures (the mean gap of the central lid points).
TRAVEL_SEARCH = (-0.5, 1.0)
#: Extra rows kept above and below the bands so that shifted rows stay inside the picture.
PAD = 0.6


@dataclass(frozen=True)
class EyeModel:
    """One eye at rest, in the reference's working pixels.

    Attributes
    ----------
    rest : (h, w) float32 ndarray
        Rest picture of the eye region (locally contrast-normalised).
    origin : (2,) ndarray
        Its top-left corner (x, y), working px.
    margin : (w,) ndarray
        Row of the upper-lid margin in each column, relative to ``origin``.
    lower : (w,) ndarray
        Row of the lower-lid margin in each column, relative to ``origin``.
    aperture : float
        Resting aperture at the eye's centre, working px.
    """

    rest: np.ndarray
    origin: np.ndarray
    margin: np.ndarray
    lower: np.ndarray
    aperture: float

    @cached_property
    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Reference working px (x, y) of every pixel of ``rest``, float32 (made once: every
        frame samples the same grid)."""
        h, w = self.rest.shape
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        xs += np.float32(self.origin[0])
        ys += np.float32(self.origin[1])
        return xs, ys

    @cached_property
    def lower_band(self) -> Band:
        """The strip of skin below the lower lid (:data:`LOWER_BAND`), gathered once."""
        a = self.aperture
        return Band.of(self.rest, self.lower + LOWER_BAND[0] * a, self.lower + LOWER_BAND[1] * a)

    @cached_property
    def lid_band(self) -> Band:
        """The lid sheet around the upper margin (:data:`LID_BAND_ABOVE`,
        :data:`LID_BAND_BELOW`), gathered once."""
        a = self.aperture
        return Band.of(self.rest, self.margin - LID_BAND_ABOVE * a,
                       self.margin + LID_BAND_BELOW * a)


@dataclass(frozen=True)
class LidReading:
    """One eye in one frame.

    Attributes
    ----------
    narrowing : float
        How far the aperture narrowed at its widest point (the eye's centre) from rest,
        working px (negative: opened wider); NaN when the best match lay at the search's
        wide-open bound, i.e. no lid was found within it.
    registration : float
        Vertical shift of the lower band, working px (head-motion residual; lower lid rise).
    lid_cost, lower_cost : float
        Mismatch (1 − normalised correlation, 0-2) of the best prediction in each band: large
        when the model does not fit (a hand, hair or glare over the eye).
    """

    narrowing: float
    registration: float
    lid_cost: float
    lower_cost: float


def eye_model(gray: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> EyeModel | None:
    """Cut the rest picture of one eye around its central lid points.

    Parameters
    ----------
    gray : 2-D uint8 ndarray
        Reference working image (locally contrast-normalised).
    upper, lower : (N, 2) ndarray
        Facing upper- and lower-lid margin points (working px), N ≥ 2, in any order.

    Returns
    -------
    EyeModel or None
        None when the eye is too small, closed, or too near the image edge.
    """
    aperture = float(np.mean(lower[:, 1] - upper[:, 1]))
    if aperture < 4:
        return None
    x0 = int(np.floor(min(upper[:, 0].min(), lower[:, 0].min())))
    x1 = int(np.ceil(max(upper[:, 0].max(), lower[:, 0].max()))) + 1
    y0 = int(np.floor(upper[:, 1].min() - (LID_BAND_ABOVE + PAD) * aperture))
    y1 = int(np.ceil(lower[:, 1].max() + (LOWER_BAND[1] + PAD) * aperture)) + 1
    if x0 < 0 or y0 < 0 or x1 > gray.shape[1] or y1 > gray.shape[0] or x1 - x0 < 3:
        return None
    columns = np.arange(x0, x1, dtype=float)
    order_u, order_l = np.argsort(upper[:, 0]), np.argsort(lower[:, 0])
    margin = np.interp(columns, upper[order_u, 0], upper[order_u, 1]) - y0
    low = np.interp(columns, lower[order_l, 0], lower[order_l, 1]) - y0
    rest = gray[y0:y1, x0:x1].astype(np.float32)
    return EyeModel(rest, np.array([x0, y0], dtype=float), margin, low, aperture)


@dataclass(frozen=True)
class Band:
    """The pixels of one band of a rest picture, gathered once for every trial shift.

    Attributes
    ----------
    rows, cols : (m,) intp ndarray
        Where the band's pixels are in the rest picture (rows ``top <= row < bottom``).
    values : (m,) float32 ndarray
        Their rest grey levels.
    height, width : int
        The rest picture's height and width, px.
    """

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    height: int
    width: int

    @classmethod
    def of(cls, rest: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> Band:
        """The band ``top <= row < bottom`` (rows of ``rest``, per column)."""
        h = rest.shape[0]
        rows, cols = np.nonzero((np.arange(h)[:, None] >= np.ceil(top)[None, :])
                                & (np.arange(h)[:, None] < bottom[None, :]))
        return cls(rows, cols, rest[rows, cols], h, rest.shape[1])

    @cached_property
    def centred(self) -> tuple[np.ndarray, float]:
        """The rest values less their mean (float64), and the sum of their squares."""
        values = self.values.astype(np.float64) - float(self.values.sum()) / len(self.values)
        return values, float((values * values).sum())


def band_costs(band: Band, current: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Mismatch (1 − normalised correlation) between ``current`` and a band of the rest
    picture shifted down, per trial shift.

    The band's rest pixels (:meth:`Band.of`) are compared with ``current`` at the rows they
    would have moved to; pixels that would leave the picture are left out.

    Parameters
    ----------
    band : Band
    current : (h, w) float32 ndarray
    shifts : (n,) or (n, w) ndarray
        Trial shifts, px (positive: down), the same for every column or per column.

    Returns
    -------
    (n,) ndarray
        1 − normalised correlation, 0-2 (2 for an empty band).
    """
    rows, cols, h = band.rows, band.cols, band.height
    if not len(rows):
        return np.full(len(shifts), 2.0)
    shifts = np.asarray(shifts, dtype=np.float32)
    per_pixel = shifts[:, cols] if shifts.ndim == 2 else shifts[:, None]
    # (n, m) rows of `current` the band moved to; row-major whatever the shifts' layout, so
    # that each shift's sums below add in one order in either path.
    target = np.ascontiguousarray(rows[None, :] + per_pixel)
    # Flat indices: the same pixels as current[low, cols], gathered faster.
    flat, width = np.ascontiguousarray(current).ravel(), current.shape[1]
    if target.min() >= 0 and target.max() <= h - 1:
        return _inside_costs(band, flat, width, target)
    return _masked_costs(band, flat, width, target)


def _masked_costs(band: Band, flat: np.ndarray, width: int, target: np.ndarray) -> np.ndarray:
    """:func:`band_costs` leaving out the pixels shifted beyond the picture (``flat``: the
    current picture's pixels, row by row; ``target``: (n, m) rows each band pixel moved to)."""
    cols, h = band.cols, band.height
    valid = (target >= 0) & (target <= h - 1)
    low = np.clip(np.floor(target), 0, h - 1).astype(np.intp)
    high = np.minimum(low + 1, h - 1)  # low >= 0: only the upper bound can bind
    weight = np.clip(target - low, 0, 1)
    seen = (1 - weight) * flat[low * width + cols] + weight * flat[high * width + cols]
    # Zero-mean, unit-spread comparison (1 - normalised correlation): a change of gain or
    # offset over the band (lighting, exposure) does not change the cost.
    rest = np.broadcast_to(band.values[None, :], seen.shape)
    count = np.maximum(valid.sum(axis=1), 1)
    mean_s = np.where(valid, seen, 0.0).sum(axis=1) / count
    mean_b = np.where(valid, rest, 0.0).sum(axis=1) / count
    ds = np.where(valid, seen - mean_s[:, None], 0.0)
    db = np.where(valid, rest - mean_b[:, None], 0.0)
    spread = np.sqrt((ds * ds).sum(axis=1) * (db * db).sum(axis=1)) + 1e-6
    return 1.0 - (ds * db).sum(axis=1) / spread


def _inside_costs(band: Band, flat: np.ndarray, width: int, target: np.ndarray) -> np.ndarray:
    """:func:`band_costs` where every shifted pixel stays inside the picture (nearly always):
    no masking, and the rest band's mean and spread computed once rather than per shift —
    the same costs to the last bit, ~35 % sooner (the arrays are small: the cost is in the
    number of numpy calls)."""
    cols = band.cols
    low = np.floor(target).astype(np.intp)
    high = np.minimum(low + 1, band.height - 1)
    weight = target - low
    seen = (1 - weight) * flat[low * width + cols] + weight * flat[high * width + cols]
    count = len(cols)
    mean_s = seen.sum(axis=1) / count
    ds = seen - mean_s[:, None]
    db, db_squares = band.centred
    spread = np.sqrt((ds * ds).sum(axis=1) * db_squares) + 1e-6
    return 1.0 - (ds * db).sum(axis=1) / spread


def best_shift(band: Band, current: np.ndarray, low: float, high: float, offset: float = 0.0,
               profile: np.ndarray | None = None) -> tuple[float, float]:
    """The shift d in [low, high] px that best predicts a band of the rest picture in
    ``current``, and its cost.

    Each column is shifted by ``offset + d * profile`` (``profile`` 1 everywhere by default).
    Whole pixels first, then quarter pixels around the best, then a parabola through the
    three best quarter-pixel costs.
    """
    weights = np.ones(band.width) if profile is None else profile

    def costs_at(trials: np.ndarray) -> np.ndarray:
        return band_costs(band, current, offset + trials[:, None] * weights[None, :])

    coarse = np.arange(low, high + 1.0, 1.0)
    best = coarse[int(np.argmin(costs_at(coarse)))]
    fine = best + np.arange(-0.75, 0.76, 0.25)
    costs = costs_at(fine)
    i = int(np.argmin(costs))
    shift = float(fine[i])
    if 0 < i < len(costs) - 1:
        left, mid, right = costs[i - 1:i + 2]
        curvature = left - 2 * mid + right
        if curvature > 0:
            shift += 0.25 * 0.5 * float(left - right) / float(curvature)
    return float(np.clip(shift, low, high)), float(costs[i])


def read_lid(model: EyeModel, current: np.ndarray) -> LidReading:
    """How far the eye narrowed in this frame.

    Parameters
    ----------
    model : EyeModel
    current : (h, w) float32 ndarray
        This frame's picture of the same region (see :func:`sample_region`).
    """
    a = model.aperture
    registration, lower_cost = best_shift(
        model.lower_band, current, -REGISTRATION_SEARCH * a, REGISTRATION_SEARCH * a)
    # The margin comes down most at the eye's centre: each column travels in proportion to its
    # own resting gap, so that the closed lid meets the lower lid all along.
    gap = np.clip(model.lower - model.margin, 0.0, None)
    profile = gap / max(float(gap.max()), 1e-6)
    widest = TRAVEL_SEARCH[0] * a
    # Bounded by the centre's own gap, not the mean aperture (smaller): a complete blink read
    # as 93.5 % on every blink that closed fully (mahie's webcam).
    travel, lid_cost = best_shift(
        model.lid_band, current, widest, TRAVEL_SEARCH[1] * float(gap.max()),
        offset=registration, profile=profile)
    # The best match at the wide-open end of the search is no lid found: an eye does not open
    # by half its aperture, and behind glasses this is where the band settles on the rim
    # (soniya's webcam: one exact value in 164 of 460 frames, read as the eye at rest).
    return LidReading(float("nan") if travel <= widest else travel, registration, lid_cost,
                      lower_cost)


def sample_region(gray: np.ndarray, model: EyeModel, to_current: np.ndarray) -> np.ndarray:
    """This frame's picture of the eye region, sampled in reference coordinates.

    Parameters
    ----------
    gray : 2-D uint8 ndarray
        Current working image.
    to_current : (2, 3) ndarray
        Affine from reference working px to current working px.
    """
    xs, ys = model.grid
    map_x = to_current[0, 0] * xs + to_current[0, 1] * ys + to_current[0, 2]
    map_y = to_current[1, 0] * xs + to_current[1, 1] * ys + to_current[1, 2]
    return cv2.remap(gray, map_x.astype(np.float32), map_y.astype(np.float32),
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
