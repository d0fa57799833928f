"""How far each side moved, measured without a left-right prior.

MediaPipe's landmark model pulls faces toward symmetry (BRIEF §4): it under-reports the moving
side and makes a frozen side appear to move. Here each side's movement is measured by tracking
small image patches, seeded on the landmarks of a reference (rest) frame, with pyramidal
Lucas-Kanade optical flow. Flow knows nothing about faces, so it cannot borrow movement from the
other side. Landmarks are used only to seed the patches, to stand in for a patch whose track
fails its forward-backward check, and to cross-check.

The head's own motion is removed with a similarity transform fitted to patches on the nasal
bridge and inner canthi (:data:`facescore.anatomy.RIGID`), and displacements are expressed
along the reference frame's head axes: up, and lateral (toward the side's own ear).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from .anatomy import BROW, BROW_INNER, LID_CENTRE_PAIRS, MOUTH_CORNER, RIGID, SIDES
from .eyelids import EyeModel, eye_model, lid_travel, sample_region
from .features import lateral_sign
from .geometry import apply_affine, invert_affine, similarity_fit

#: Displacement signals (without ``_left``/``_right``), positive in the direction named.
DISPLACEMENT_COLUMNS = {
    "brow_lift": "brow travel upward (negative: descent)",
    "brow_medial": "inner-brow travel toward the midline (knitting)",
    "lid_drop": "central upper-lid travel downward (closing)",
    "lower_lid_rise": "central lower-lid travel upward",
    "mouth_out": "mouth-corner travel outward (toward the ear)",
    "mouth_up": "mouth-corner travel upward",
}


def _groups() -> dict[str, tuple[int, ...]]:
    groups = {"rigid": tuple(RIGID)}
    for side in SIDES:
        groups[f"brow_{side}"] = BROW[side]
        groups[f"brow_inner_{side}"] = BROW_INNER[side]
        groups[f"upper_lid_{side}"] = tuple(u for u, _ in LID_CENTRE_PAIRS[side])
        groups[f"lower_lid_{side}"] = tuple(lo for _, lo in LID_CENTRE_PAIRS[side])
        groups[f"mouth_{side}"] = (MOUTH_CORNER[side],)
    return groups


GROUPS = _groups()
SEED_INDICES = np.array(sorted({i for group in GROUPS.values() for i in group}))
_ROW = {landmark: row for row, landmark in enumerate(SEED_INDICES)}

LK_PARAMS = {
    "winSize": (21, 21),
    "maxLevel": 3,
    "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01),
}
#: Lid patches get a smaller window: a 21 px window (at IOD 100 px) spans both lids, and the
#: still lower lid then holds the closing upper lid back.
LID_WINDOW = (11, 11)
#: A track is trusted when tracking it back lands within this many px of where it started.
FORWARD_BACKWARD_PX = 1.0


_LID_ROWS = np.array([_ROW[i] for side in SIDES for pair in LID_CENTRE_PAIRS[side]
                      for i in pair])
_OTHER_ROWS = np.setdiff1d(np.arange(len(SEED_INDICES)), _LID_ROWS)
_RIGID_ROWS = np.array([_ROW[i] for i in RIGID])
_UPPER_LID_ROWS = {side: np.array([_ROW[u] for u, _ in LID_CENTRE_PAIRS[side]]) for side in SIDES}


def _group_mean_matrix() -> np.ndarray:
    """(groups, seeds) matrix whose product with per-seed shifts gives each group's mean."""
    matrix = np.zeros((len(GROUPS), len(SEED_INDICES)))
    for g, group in enumerate(GROUPS.values()):
        matrix[g, [_ROW[i] for i in group]] = 1.0 / len(group)
    return matrix


_GROUP_NAMES = list(GROUPS)
_GROUP_MEAN = _group_mean_matrix()


def _track(previous: np.ndarray, current: np.ndarray, points: np.ndarray,
           window: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Lucas-Kanade from ``previous`` to ``current`` with a forward-backward check.

    Returns the new positions (N, 2) and whether each passed the check (N,).
    """
    params = {**LK_PARAMS, "winSize": window}
    start = points.reshape(-1, 1, 2).astype(np.float32)
    forward, ok_f, _ = cv2.calcOpticalFlowPyrLK(previous, current, start, None, **params)
    backward, ok_b, _ = cv2.calcOpticalFlowPyrLK(current, previous, forward, None, **params)
    error = np.linalg.norm((backward - start).reshape(-1, 2), axis=1)
    good = (ok_f.ravel() == 1) & (ok_b.ravel() == 1) & (error < FORWARD_BACKWARD_PX)
    return forward.reshape(-1, 2), good


#: Lid patches sit this share of the resting aperture off the lid margin, on the lid itself,
#: so that their window holds lid (which moves as a sheet) rather than both lids and the eye.
LID_SEED_OFFSET = 0.45


def _stand_in_steps(flow_step: np.ndarray, good: np.ndarray,
                    landmark_step: np.ndarray) -> np.ndarray:
    """Steps for patches whose flow failed: the median flow step of the rest of their group
    (still prior-free), or the landmarks' step when the whole group failed."""
    steps = landmark_step.copy()
    for group in GROUPS.values():
        rows = np.array([_ROW[i] for i in group])
        ok = rows[good[rows]]
        if len(ok):
            steps[rows] = np.median(flow_step[ok], axis=0)
    return steps


def seed_positions(points_xy: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Where the patches start: on the seed landmarks, lid patches moved off the margin.

    Parameters
    ----------
    points_xy : (478, 2) ndarray
        Landmarks, image px.
    up : (2,) ndarray
        Unit vector up the face, image coordinates.

    Returns
    -------
    (len(SEED_INDICES), 2) ndarray
    """
    seeds = points_xy[SEED_INDICES].astype(float).copy()
    for side in SIDES:
        pairs = LID_CENTRE_PAIRS[side]
        aperture = np.mean([(points_xy[u] - points_xy[lo]) @ up for u, lo in pairs])
        offset = LID_SEED_OFFSET * max(aperture, 0.0) * up
        for upper, lower in pairs:
            seeds[_ROW[upper]] += offset
            seeds[_ROW[lower]] -= offset
    return seeds


def head_axes(points_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors (image coordinates) toward the patient's left and upward.

    Parameters
    ----------
    points_xy : (478, 2) ndarray
        Landmarks in image pixels of the reference frame.
    """
    left_eye = points_xy[list(LID_CENTRE_PAIRS["left"][1])].mean(axis=0)
    right_eye = points_xy[list(LID_CENTRE_PAIRS["right"][1])].mean(axis=0)
    to_left = left_eye - right_eye
    to_left /= np.linalg.norm(to_left)
    up = np.array([to_left[1], -to_left[0]])  # image y grows downward
    return to_left, up


def displacements(shift: np.ndarray, to_left: np.ndarray, up: np.ndarray,
                  tag: str = "") -> dict[str, float]:
    """Per-side displacement signals from per-seed shifts in the reference frame.

    Parameters
    ----------
    shift : (len(SEED_INDICES), 2) ndarray
        Each seed's displacement from its reference position, head motion removed, px.
    to_left, up : (2,) ndarray
        Head axes of the reference frame (see :func:`head_axes`).
    tag : str
        Inserted before the side in each key (``brow_lift<tag>_left``).
    """

    means = dict(zip(_GROUP_NAMES, _GROUP_MEAN @ shift, strict=True))
    out: dict[str, float] = {}
    for side in SIDES:
        outward = lateral_sign(side) * to_left
        brow, inner = means[f"brow_{side}"], means[f"brow_inner_{side}"]
        upper, lower = means[f"upper_lid_{side}"], means[f"lower_lid_{side}"]
        mouth = means[f"mouth_{side}"]
        values = {
            "brow_lift": brow @ up,
            "brow_medial": -(inner @ outward),
            "lid_drop": -(upper @ up),
            "lower_lid_rise": lower @ up,
            "mouth_out": mouth @ outward,
            "mouth_up": mouth @ up,
        }
        out.update({f"{name}{tag}_{side}": float(v) for name, v in values.items()})
    return out


#: Patches are tracked on a grey crop around the face, resampled so that the inter-ocular
#: distance is this many px: the same patch windows then cover the same anatomy whatever the
#: video's resolution or the face's size.
WORKING_IOD_PX = 100.0
#: The crop spans this multiple of the landmark cloud's extent, centred on the face.
CROP_MARGIN = 2.0


def resample(picture: np.ndarray, decimation: int, side: int) -> np.ndarray:
    """A square picture resized to ``side`` px: area-averaged by the whole factor
    ``decimation`` first (OpenCV's fast path, exact when the picture's side is a multiple of
    it), then bilinear for the rest (a factor below 2).

    Plain area resampling by a fractional factor costs 4-5x more for the same anti-aliasing.
    """
    if decimation > 1:
        whole = picture.shape[0] // decimation
        picture = cv2.resize(picture, (whole, whole), interpolation=cv2.INTER_AREA)
    return cv2.resize(picture, (side, side), interpolation=cv2.INTER_LINEAR)


@dataclass
class PatchTrackerState:
    origin: np.ndarray  # (2,) top-left corner of the crop, frame px
    size: int  # side of the square crop, frame px (a multiple of decimation)
    scale: float  # working px per frame px
    decimation: int  # whole part of the downscale, done by area averaging
    reference: np.ndarray  # (K, 2) seed positions in the reference frame, working px
    current: np.ndarray  # (K, 2) seed positions now, working px
    gray: np.ndarray  # previous working image
    to_left: np.ndarray
    up: np.ndarray
    eyes: dict[str, EyeModel | None]  # each eye at rest, for the lids' occlusion model

    @cached_property
    def modelled_rows(self) -> np.ndarray:
        """Seed rows of upper lids measured by their eye model (no flow needed)."""
        return np.array([row for side, eye in self.eyes.items() if eye is not None
                         for row in _UPPER_LID_ROWS[side]], dtype=int)

    @cached_property
    def flow_lid_rows(self) -> np.ndarray:
        """Seed rows of lids tracked by flow (with the small window)."""
        return np.setdiff1d(_LID_ROWS, self.modelled_rows)


class PatchTracker:
    """Tracks landmark-seeded patches with optical flow and reports per-side displacements.

    Call :meth:`reset` on the first frame of a tracking run (its landmarks become the
    reference) and :meth:`update` on every following frame.
    """

    def __init__(self) -> None:
        self.state: PatchTrackerState | None = None
        self.n_fallbacks = 0

    def _working_image(self, picture: np.ndarray, state: PatchTrackerState) -> np.ndarray:
        x0, y0 = (int(v) for v in state.origin)
        crop = picture[y0:y0 + state.size, x0:x0 + state.size]
        gray = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        return resample(gray, state.decimation, int(round(state.size * state.scale)))

    def reset(self, rgb: np.ndarray, points_xy: np.ndarray) -> None:
        """Start a new reference: seed patches on this frame's landmarks (frame px).

        ``rgb`` may also be the frame's grey (luma) picture.
        """
        to_left, up = head_axes(points_xy)
        iod = np.linalg.norm(points_xy[LID_CENTRE_PAIRS["left"][1][0]]
                             - points_xy[LID_CENTRE_PAIRS["right"][1][0]])
        (xmin, ymin), (xmax, ymax) = points_xy.min(axis=0), points_xy.max(axis=0)
        height, width = rgb.shape[:2]
        scale = float(np.clip(WORKING_IOD_PX / max(iod, 1.0), 0.2, 3.0))
        decimation = max(1, int(1 / scale))
        size = min(int(round(CROP_MARGIN * max(xmax - xmin, ymax - ymin))), width, height)
        size -= size % decimation
        scale = round(size * scale) / size  # exactly the working picture's scale
        # Slide the crop inside the frame: padding it would copy it every frame.
        origin = np.array([min(max(round((xmin + xmax - size) / 2), 0), width - size),
                           min(max(round((ymin + ymax - size) / 2), 0), height - size)],
                          dtype=float)
        seeds = ((seed_positions(points_xy, up) - origin) * scale).astype(np.float32)
        state = PatchTrackerState(origin, size, scale, decimation, seeds.copy(), seeds.copy(),
                                  None, to_left, up, {})
        state.gray = self._working_image(rgb, state)
        working = (points_xy - origin) * scale
        for side in SIDES:
            pairs = LID_CENTRE_PAIRS[side]
            state.eyes[side] = eye_model(state.gray, working[[u for u, _ in pairs]],
                                         working[[lo for _, lo in pairs]])
        self.state = state

    def update(self, rgb: np.ndarray, landmark_step: np.ndarray | None) -> tuple[dict, float]:
        """Track all patches into this frame.

        Parameters
        ----------
        rgb : (H, W, 3) or (H, W) uint8 ndarray
            The frame, or its grey (luma) picture.
        landmark_step : (len(SEED_INDICES), 2) ndarray or None
            How far the seeds' landmarks moved since the previous frame (frame px); used for
            patches whose flow fails the forward-backward check. None when no face was found.

        Returns
        -------
        displacements : dict of str to float
            Per-side signals in frame px (see :data:`DISPLACEMENT_COLUMNS`).
        tracked_fraction : float
            Share of patches whose flow passed the check.
        """
        state = self.state
        gray = self._working_image(rgb, state)
        current = state.current.copy()
        good = np.zeros(len(current), dtype=bool)
        # Upper lids measured by their eye model need no flow: their rows are replaced below.
        good[state.modelled_rows] = True
        for rows, window in ((_OTHER_ROWS, LK_PARAMS["winSize"]),
                             (state.flow_lid_rows, LID_WINDOW)):
            current[rows], good[rows] = _track(state.gray, gray, state.current[rows], window)
        if not good.all():
            step = np.zeros_like(current) if landmark_step is None \
                else (landmark_step * state.scale).astype(np.float32)
            current = np.where(good[:, None], current,
                               state.current + _stand_in_steps(current - state.current, good, step))
            self.n_fallbacks += int((~good).sum())
        state.current, state.gray = current, gray

        head_motion = similarity_fit(state.reference[_RIGID_ROWS], current[_RIGID_ROWS])
        to_reference = invert_affine(head_motion)
        shift = apply_affine(to_reference, current) - state.reference
        for side, eye in state.eyes.items():
            if eye is not None:
                travel = lid_travel(eye, sample_region(gray, eye, head_motion))
                shift[_UPPER_LID_ROWS[side]] = -travel * state.up
        return displacements(shift / state.scale, state.to_left, state.up), float(good.mean())


def landmark_displacements(head: np.ndarray, head_reference: np.ndarray) -> dict[str, float]:
    """The same signals as :meth:`PatchTracker.update`, from head-fixed landmarks alone.

    Kept beside the flow signals as a cross-check: where the two disagree, the landmark model's
    pull toward symmetry is the usual cause.

    Parameters
    ----------
    head, head_reference : (478, 2 or 3) ndarray
        Head-fixed landmarks (X to the patient's left, Y up) now and in the reference frame, px.
    """
    shift = head[SEED_INDICES, :2] - head_reference[SEED_INDICES, :2]
    return displacements(shift, np.array([1.0, 0.0]), np.array([0.0, 1.0]), tag="_lm")
