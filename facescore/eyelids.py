"""Upper-lid travel from image intensities: the lid slides over a still eye.

A closing lid moves as a sheet over the globe: above the lid margin the picture moves down
with the lid; below it the eye stays where it was until the lid covers it. Optical flow
assumes one motion per window and, on a window across the margin, reads a compromise between
the moving lid and the still eye, so it compresses large closures toward small ones (a pull
toward symmetry of its own). Here each eye's rest picture is compared with every frame under
that occlusion model: for a trial travel d the predicted picture is the rest picture shifted
down by d above the displaced margin and unchanged below it, and the d that predicts the frame
best is the lid's travel. Each eye is measured from its own pixels only.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: The compared region reaches this many resting apertures above the margin…
ABOVE_MARGIN = 0.8
#: …and this many below the lower lid.
BELOW_LOWER_LID = 0.3
#: Travel searched, in resting apertures (negative: the lid opens wider).
SEARCH = (-0.3, 1.3)


@dataclass(frozen=True)
class EyeModel:
    """One eye at rest, in reference working pixels.

    Attributes
    ----------
    rest : (h, w) float32 ndarray
        The rest picture of the eye region.
    origin : (2,) ndarray
        Its top-left corner (x, y).
    margin : (w,) ndarray
        Row of the upper-lid margin in each column, relative to ``origin``.
    aperture : float
        Resting aperture, px.
    """

    rest: np.ndarray
    origin: np.ndarray
    margin: np.ndarray
    aperture: float


def eye_model(gray: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> EyeModel | None:
    """Cut the rest picture of one eye around its central lid points.

    Parameters
    ----------
    gray : 2-D uint8 ndarray
        Reference working image.
    upper, lower : (N, 2) ndarray
        Facing upper- and lower-lid margin points (working px), N ≥ 2, left to right in any
        order.

    Returns
    -------
    EyeModel or None
        None when the eye is too small, closed, or too near the image edge.
    """
    aperture = float(np.mean(lower[:, 1] - upper[:, 1]))
    if aperture < 4:
        return None
    order = np.argsort(upper[:, 0])
    x0 = int(np.floor(upper[:, 0].min()))
    x1 = int(np.ceil(upper[:, 0].max())) + 1
    y0 = int(np.floor(upper[:, 1].min() - ABOVE_MARGIN * aperture))
    y1 = int(np.ceil(lower[:, 1].max() + BELOW_LOWER_LID * aperture)) + 1
    if x0 < 0 or y0 < 0 or x1 > gray.shape[1] or y1 > gray.shape[0] or x1 - x0 < 3:
        return None
    columns = np.arange(x0, x1, dtype=float)
    margin = np.interp(columns, upper[order, 0], upper[order, 1]) - y0
    rest = gray[y0:y1, x0:x1].astype(np.float32)
    return EyeModel(rest, np.array([x0, y0], dtype=float), margin, aperture)


def trial_costs(model: EyeModel, current: np.ndarray, travels: np.ndarray) -> np.ndarray:
    """Mean squared difference between the frame and the occlusion model, per trial travel.

    Parameters
    ----------
    model : EyeModel
    current : (h, w) float32 ndarray
        This frame's picture of the eye region (head motion undone).
    travels : (n,) ndarray
        Trial lid travels, px (positive: down).

    Returns
    -------
    (n,) ndarray
    """
    rest = model.rest
    h, _ = rest.shape
    rows = np.arange(h, dtype=np.float32)[None, :, None]  # (1, h, 1)
    d = np.asarray(travels, dtype=np.float32)[:, None, None]  # (n, 1, 1)
    # The lid above the displaced margin shows the rest picture from `d` rows higher up
    # (linear interpolation between rows); below it the eye is unchanged.
    source = rows - d
    lower = np.clip(np.floor(source), 0, h - 1).astype(np.intp)[..., 0]  # (n, h)
    upper = np.clip(lower + 1, 0, h - 1)
    weight = np.clip(source - np.floor(source), 0, 1)  # (n, h, 1)
    shifted = (1 - weight) * rest[lower] + weight * rest[upper]  # (n, h, w)
    margin = model.margin[None, None, :].astype(np.float32)
    lid = rows < margin + d
    picture = np.where(lid, shifted, rest[None])
    valid = (rows >= d) & ~((d < 0) & (rows >= margin + d) & (rows < margin))
    squared = np.where(valid, (current[None] - picture) ** 2, 0.0)
    return squared.sum(axis=(1, 2)) / np.maximum(valid.sum(axis=(1, 2)), 1)


def lid_travel(model: EyeModel, current: np.ndarray) -> float:
    """How far the upper lid has come down, px (negative: opened wider).

    Parameters
    ----------
    model : EyeModel
    current : (h, w) float32 ndarray
        This frame's picture of the same region, head motion already undone.
    """
    low, high = (model.aperture * s for s in SEARCH)
    # Coarse to fine: whole pixels over the range, then quarter pixels around the best.
    coarse = np.arange(low, high + 1.0, 1.0)
    best = coarse[int(np.argmin(trial_costs(model, current, coarse)))]
    fine = best + np.arange(-0.75, 0.76, 0.25)
    costs = trial_costs(model, current, fine)
    i = int(np.argmin(costs))
    if 0 < i < len(costs) - 1:
        left, mid, right = costs[i - 1:i + 2]
        curvature = left - 2 * mid + right
        if curvature > 0:
            return float(fine[i] + 0.25 * 0.5 * (left - right) / curvature)
    return float(fine[i])


def sample_region(gray: np.ndarray, model: EyeModel, to_current: np.ndarray) -> np.ndarray:
    """This frame's picture of the eye region, sampled in reference coordinates.

    Parameters
    ----------
    gray : 2-D uint8 ndarray
        Current working image.
    to_current : (2, 3) ndarray
        Affine from reference working px to current working px (the head's motion).
    """
    h, w = model.rest.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xs += np.float32(model.origin[0])
    ys += np.float32(model.origin[1])
    map_x = to_current[0, 0] * xs + to_current[0, 1] * ys + to_current[0, 2]
    map_y = to_current[1, 0] * xs + to_current[1, 1] * ys + to_current[1, 2]
    return cv2.remap(gray, map_x.astype(np.float32), map_y.astype(np.float32),
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
