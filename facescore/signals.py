"""From what the tracker measured to the per-frame movement signals (pure functions).

:class:`facescore.motion.AnchoredTracker` gives, per frame, each patch group's displacement from
its anchor in the picture (head motion in the image plane removed) and each eye's narrowing.
Here, once the whole recording is known:

1. **Out-of-plane head rotation** is removed. Turning or nodding moves points at different depths
   by different amounts in the picture (parallax): a 5° nod moves the brows about 1 mm against
   the nose. The head pose comes from MediaPipe's transformation matrix, but that pose is itself
   pulled by expressions (measured on phantoms with a still head: a brow raise read as a 1.5-3.5°
   nod, an eye closure as 1.5-4°). So the pose is smoothed with a centred running median over
   :data:`POSE_WINDOW_S`, which keeps real head turns that last longer than half the window and
   removes the expression-length bumps; the parallax of that pose is then subtracted, using the
   anchor's 3-D landmark geometry.
2. Displacements are turned into the **head's axes** (X toward the patient's left, Y up) and
   into the named signals; the eye's narrowing becomes ``lid_drop``.
3. **Rest is re-established**: each anchor's signals are shifted so that they read zero at
   rest, where rest is the anchor's most neutral frames by MediaPipe's blendshapes (the model
   decides only *when* the face is at rest, never *how far* anything moved).
4. **Physical bounds and confidence**: a value outside what a face can do (an aperture below 0
   or far above its rest; a brow or mouth corner travelling more than :data:`MAX_TRAVEL_MM`) is
   removed, and each region's per-frame confidence (share of its patches measured, eye-model fit,
   head pose near the anchor's) masks the frames where the measure does not fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .anatomy import SIDES
from .geometry import apply_affine, invert_affine, similarity_fit
from .motion import _GROUP_ROWS, MOVING_GROUPS, Anchor, group_signals, image_jacobian

#: Centred running-median window for the head pose, s (see the module's note 1).
POSE_WINDOW_S = 5.0
#: Signals are smoothed over this centred window (Savitzky-Golay, quadratic), s: frame-to-frame
#: tracking noise (~0.2-0.3 px) otherwise inflates each side's peak, most for a side that did
#: not move. Faces move smoothly on this scale; the eye's window is shorter so that the fast
#: closing of a blink keeps its depth.
_SM = 0.2
SMOOTH_S = {"brow_lift": _SM, "brow_medial": _SM, "lower_lid_rise": _SM, "mouth_out": _SM,
            "mouth_up": _SM, "lid_drop": 0.1}
#: Travel of a brow or mouth corner beyond this is not a face's, mm.
MAX_TRAVEL_MM = 30.0
#: An aperture above this multiple of its rest is not an eye's.
MAX_APERTURE_RATIO = 1.6
#: Share of each anchor's frames, the most neutral ones, among which rest is the median.
REST_SHARE = 0.5
#: Confidence below this masks a region's signal in that frame.
MIN_CONFIDENCE = 0.5
#: Head pose this far (deg) from the anchor's halves the confidence; twice this zeroes it.
POSE_CONFIDENCE_DEG = 12.0
#: Eye-model mismatch (1 − correlation) at which the eye's confidence halves.
EYE_COST_HALF = 0.3

REGIONS = {"brow": ("brow_lift", "brow_medial"), "eye": ("lid_drop",),
           "mouth": ("mouth_out", "mouth_up"), "lower_lid": ("lower_lid_rise",)}
SIGNALS = ("brow_lift", "brow_medial", "lid_drop", "lower_lid_rise", "mouth_out", "mouth_up")


# --- head pose ---------------------------------------------------------------------------------

def euler_angles(rotation: np.ndarray) -> np.ndarray:
    """(pitch, yaw, roll) in radians with ``rotation = Rz(roll) @ Ry(yaw) @ Rx(pitch)``."""
    return np.array([np.arctan2(rotation[2, 1], rotation[2, 2]),
                     np.arcsin(np.clip(-rotation[2, 0], -1.0, 1.0)),
                     np.arctan2(rotation[1, 0], rotation[0, 0])])


def rotation_from_euler(pitch, yaw, roll) -> np.ndarray:
    """Inverse of :func:`euler_angles`; angles (radians) of any one shape (...) give
    rotations of shape (..., 3, 3)."""
    cx, sx, cy, sy = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    cz, sz = np.cos(roll), np.sin(roll)
    one, zero = np.ones_like(cx), np.zeros_like(cx)

    def matrix(*rows):
        return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)

    rx = matrix((one, zero, zero), (zero, cx, -sx), (zero, sx, cx))
    ry = matrix((cy, zero, sy), (zero, one, zero), (-sy, zero, cy))
    rz = matrix((cz, -sz, zero), (sz, cz, zero), (zero, zero, one))
    return rz @ ry @ rx


def smooth_angles(angles: np.ndarray, t_s: np.ndarray, window_s: float = POSE_WINDOW_S
                  ) -> np.ndarray:
    """Centred running median of per-frame angles, gaps (NaN) bridged by interpolation.

    Parameters
    ----------
    angles : (T, K) ndarray
    t_s : (T,) ndarray
        Frame times, s (their median spacing sets the window in frames).

    Returns
    -------
    (T, K) ndarray
        NaN where every frame is NaN.
    """
    angles = np.array(angles, dtype=float)
    if len(angles) < 2:
        return angles
    known = np.isfinite(angles).all(axis=1)
    if not known.any():
        return angles
    index = np.arange(len(angles))
    filled = np.column_stack([np.interp(index, index[known], angles[known, k])
                              for k in range(angles.shape[1])])
    step = float(np.median(np.diff(t_s))) if len(t_s) > 1 else 1 / 30
    frames = max(1, int(round(window_s / max(step, 1e-3))) | 1)
    return running_median(filled, frames)


# --- parallax ----------------------------------------------------------------------------------

def _projected(seeds_head: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Image positions (x right, y down; relative, frame px) of head-fixed points under a
    rotation (..., 3, 3), weak perspective: shape (..., K, 2)."""
    camera = seeds_head @ np.swapaxes(rotation, -1, -2)
    return camera[..., :2] * np.array([1.0, -1.0])


def parallax(anchor: Anchor, at_anchor: np.ndarray, now: np.ndarray) -> dict[str, np.ndarray]:
    """How far rigid head rotation alone moves each group against the nasal ridge.

    The tracker removes the similarity that best fits the nasal-ridge patches; what a pure head
    rotation from ``at_anchor`` to ``now`` leaves after that same fit is the parallax.

    Parameters
    ----------
    anchor : Anchor
        Holds the groups' 3-D positions (head-fixed, frame px).
    at_anchor : (3, 3) ndarray
        Head rotation at the anchor.
    now : (..., 3, 3) ndarray
        Head rotations in the frames measured (one or many).

    Returns
    -------
    dict of str to (..., 2) ndarray
        Per moving group, in the anchor's image axes, frame px.
    """
    base = _projected(anchor.seeds_head, at_anchor)
    moved = _projected(anchor.seeds_head, now)
    ridge = _GROUP_ROWS["ridge"]
    fit = similarity_fit(np.broadcast_to(base[ridge], moved[..., ridge, :].shape),
                         moved[..., ridge, :])
    residual = apply_affine(invert_affine(fit), moved) - base
    return {name: residual[..., _GROUP_ROWS[name], :].mean(axis=-2) for name in MOVING_GROUPS}


# --- the table -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SignalSettings:
    pose_window_s: float = POSE_WINDOW_S
    correct_parallax: bool = True


def head_plane_signals(raw: pd.DataFrame, anchors: list[Anchor], mm_per_px: float,
                       settings: SignalSettings = SignalSettings()) -> pd.DataFrame:
    """Per-frame movement signals in mm, in the head's axes, relative to each anchor.

    Parameters
    ----------
    raw : pandas.DataFrame
        The measurer's raw rows: ``anchor``, ``pitch_rad``/``yaw_rad``/``roll_rad``, group
        displacements ``g_<group>_x``/``_y`` and lid narrowings ``lid_narrowing_<side>``
        (frame px), one row per frame.
    anchors : list of Anchor
    mm_per_px : float

    Returns
    -------
    pandas.DataFrame
        ``<signal>_mm_<side>`` for every signal of :data:`SIGNALS`, same index as ``raw``.
    """
    n = len(raw)
    out = {f"{s}_mm_{side}": np.full(n, np.nan) for s in SIGNALS for side in SIDES}
    if n == 0 or "anchor" not in raw:
        return pd.DataFrame(out, index=raw.index)
    angles = raw[["pitch_rad", "yaw_rad", "roll_rad"]].to_numpy(dtype=float)
    smooth = smooth_angles(angles, raw["t_s"].to_numpy(dtype=float), settings.pose_window_s)
    anchor_ids = raw["anchor"].to_numpy()
    frames = raw["frame"].to_numpy()
    # The columns read once as arrays: reading a DataFrame cell costs ~20 µs, a dozen a frame.
    image = {name: raw[[f"g_{name}_x", f"g_{name}_y"]].to_numpy(dtype=float)
             for name in MOVING_GROUPS}
    narrowing = {side: raw[f"lid_narrowing_{side}"].to_numpy(dtype=float) for side in SIDES}
    for a in np.unique(anchor_ids[np.isfinite(anchor_ids.astype(float))]):
        anchor = anchors[int(a)]
        rows = np.nonzero(anchor_ids == a)[0]
        creation = np.nonzero(frames == anchor.frame)[0]
        at_anchor = rotation_from_euler(*smooth[creation[0] if len(creation) else rows[0]])
        jacobian = image_jacobian(anchor.rotation)
        # All the anchor's frames at once: each frame's parallax, then the head-plane map.
        shifts = {name: image[name][rows] for name in MOVING_GROUPS}
        posed = np.isfinite(smooth[rows]).all(axis=1) if settings.correct_parallax \
            else np.zeros(len(rows), dtype=bool)
        if posed.any():
            correction = parallax(anchor, at_anchor, rotation_from_euler(*smooth[rows[posed]].T))
            for name in MOVING_GROUPS:
                shifts[name][posed] -= correction[name]
        groups = {name: np.linalg.solve(jacobian, shift.T).T for name, shift in shifts.items()}
        for key, value in group_signals(groups).items():
            name, side = key.rsplit("_", 1)
            out[f"{name}_mm_{side}"][rows] = value * mm_per_px
        for side in SIDES:
            lowered = np.stack([np.zeros(len(rows)), narrowing[side][rows]])
            out[f"lid_drop_mm_{side}"][rows] = -np.linalg.solve(jacobian, lowered)[1] * mm_per_px
    return pd.DataFrame(out, index=raw.index)


#: The expression channel that tells when each signal's region is at rest.
REST_CHANNEL = {"brow_lift": "brow", "brow_medial": "brow", "lid_drop": "eye",
                "lower_lid_rise": "eye", "mouth_out": "mouth", "mouth_up": "mouth"}


def rest_frames(table: pd.DataFrame, reference: str = "anchor",
                share: float = REST_SHARE, region: str | None = None) -> np.ndarray:
    """Frames that stand for rest: within each group of frames sharing ``reference``, the
    ``share`` whose face is nearest to neutral (their median is then taken as rest).

    Nearness to neutral is MediaPipe's blendshapes summed (``expression_<region>`` for one
    region, else ``expression_score``): the model says only *when* the face is at rest, never
    how far anything moved. Taking the more neutral
    half, and then the median within it, guards against both ways of getting rest wrong: a
    smile held through most of a clip (clearly expressive, so left out) and a subtle movement
    that the blendshapes misjudge as extra neutral (a minority of the half, so outvoted).
    Without blendshapes, the frames whose landmark signals lie nearest their median are used.
    """
    found = table["face_found"].to_numpy(dtype=bool)
    groups = table[reference].to_numpy()
    channel = f"expression_{region}" if region else "expression_score"
    if channel in table and np.isfinite(table[channel].to_numpy(dtype=float)[found]).any():
        score = table[channel].to_numpy(dtype=float)
    else:
        columns = [f"{s}_lm_mm_{side}" for s in SIGNALS for side in SIDES
                   if f"{s}_lm_mm_{side}" in table]
        values = table[columns].to_numpy(dtype=float)
        score = np.full(len(table), np.nan)
        for g in np.unique(groups[found]):
            member = found & (groups == g)
            score[member] = np.nanmax(np.abs(values[member] - np.nanmedian(values[member], 0)), 1)
    rest = np.zeros(len(table), dtype=bool)
    for g in np.unique(groups[found]):
        member = found & (groups == g) & np.isfinite(score)
        if not member.any():
            continue
        limit = np.quantile(score[member], share)
        rest |= member & (score <= limit)
    return rest


def smooth(values: np.ndarray, groups: np.ndarray, t_s: np.ndarray, window_s: float
           ) -> np.ndarray:
    """Centred Savitzky-Golay smoothing (quadratic) within each run of finite values of one
    group (no smoothing across a change of reference or a gap); runs shorter than the window
    are left as they are."""
    out = np.array(values, dtype=float)
    if len(t_s) < 3:
        return out
    step = float(np.median(np.diff(t_s)))
    frames = int(round(window_s / max(step, 1e-3))) | 1
    if frames < 3:
        return out
    finite = np.isfinite(out)
    boundaries = np.nonzero((groups[1:] != groups[:-1]) | (finite[1:] != finite[:-1]))[0] + 1
    for start, stop in zip(np.r_[0, boundaries], np.r_[boundaries, len(out)], strict=True):
        if finite[start] and stop - start >= frames:
            out[start:stop] = savgol_quadratic(out[start:stop], frames)
    return out


def savgol_quadratic(values: np.ndarray, frames: int) -> np.ndarray:
    """``scipy.signal.savgol_filter(values, frames, 2)`` (its default ``mode="interp"``) in
    numpy: importing scipy.signal costs ~0.7 s of CPU (it loads scipy.stats), more than all the
    smoothing of a recording, and in the command it ran beside the first second of measuring.
    Equal to scipy's to rounding (tested).

    Parameters
    ----------
    values : (n,) ndarray
        Finite values, ``n >= frames``.
    frames : int
        The window, an odd number of samples >= 3.

    Returns
    -------
    (n,) ndarray
        Each value replaced by the least-squares quadratic through the window centred on it;
        the first and last ``frames // 2`` by the quadratic through the first (last) window.
    """
    half = frames // 2
    positions = np.arange(frames, dtype=float)
    # The fitted quadratic's value at the window's centre is a fixed weighting of the window
    # (the first row of the fit's pseudo-inverse); symmetric, so convolving is correlating.
    weights = np.linalg.pinv(np.vander(positions - half, 3, increasing=True))[0]
    out = np.convolve(values, weights, mode="same")
    out[:half] = np.polyval(np.polyfit(positions, values[:frames], 2), positions[:half])
    out[-half:] = np.polyval(np.polyfit(positions, values[-frames:], 2), positions[-half:])
    return out


def running_median(values: np.ndarray, frames: int) -> np.ndarray:
    """The centred running median along the first axis, ends padded with the end values:
    ``scipy.ndimage.median_filter(values, size=(frames, 1, ...), mode="nearest")`` through
    pandas' rolling median (the same order statistic, so the same values; tested). Importing
    scipy.ndimage cost ~0.12 s of the command's start, before its first frame reached the
    landmark model.

    Parameters
    ----------
    values : (n, ...) ndarray
        Finite values.
    frames : int
        The window, an odd number of samples.

    Returns
    -------
    (n, ...) ndarray
    """
    values = np.asarray(values, dtype=float)
    half = frames // 2
    padded = np.pad(values, [(half, half)] + [(0, 0)] * (values.ndim - 1), mode="edge")
    rolled = pd.DataFrame(padded.reshape(len(padded), -1)).rolling(frames).median()
    return rolled.to_numpy()[frames - 1:].reshape(values.shape)


def rezero(values: np.ndarray, groups: np.ndarray, rest: np.ndarray,
           min_rest_frames: int = 5) -> np.ndarray:
    """Subtract, per group of frames, the median of ``values`` over its rest frames (over all of
    its frames when fewer than ``min_rest_frames`` are at rest)."""
    out = np.array(values, dtype=float)
    for g in np.unique(groups[np.isfinite(values)]) if np.isfinite(values).any() else []:
        member = groups == g
        basis = member & rest & np.isfinite(out)
        if basis.sum() < min_rest_frames:
            basis = member & np.isfinite(out)
        if basis.any():
            out[member] -= np.median(out[basis])
    return out


def confidence(raw: pd.DataFrame) -> pd.DataFrame:
    """Per frame, region and side: how far the measure can be trusted, 0-1.

    brow, mouth, lower_lid: the share of the region's patches measured; eye: the eye-model's
    fit (0 where no lid was found within the search). All fall with the head's angle from its
    anchor, and to 0 without a face or when the head's own motion could not be tracked.
    """
    n = len(raw)
    found = raw["face_found"].to_numpy(dtype=bool)
    distance = raw.get("pose_distance_deg", pd.Series(np.zeros(n))).to_numpy(dtype=float)
    pose_factor = np.clip(1.0 - 0.5 * np.nan_to_num(distance, nan=99) / POSE_CONFIDENCE_DEG,
                          0.0, 1.0)
    ridge = raw.get("ridge_ok", pd.Series(np.ones(n, bool))).fillna(False).to_numpy(dtype=bool)
    base = pose_factor * found * np.where(ridge, 1.0, 0.5)
    out = {}
    for side in SIDES:
        for region, group in (("brow", f"brow_{side}"), ("mouth", f"mouth_{side}"),
                              ("lower_lid", f"lower_lid_{side}")):
            share = raw.get(f"valid_{group}", pd.Series(np.zeros(n))).to_numpy(dtype=float)
            out[f"confidence_{region}_{side}"] = base * np.nan_to_num(share)
        cost = raw.get(f"lid_cost_{side}", pd.Series(np.full(n, np.nan))).to_numpy(dtype=float)
        lower = raw.get(f"lower_cost_{side}", pd.Series(np.full(n, np.nan))).to_numpy(dtype=float)
        fit = EYE_COST_HALF / (EYE_COST_HALF + np.nan_to_num(np.maximum(cost, lower), nan=np.inf))
        # No lid found within the search (eyelids.read_lid): nothing to trust in the frame.
        narrowing = raw.get(f"lid_narrowing_{side}", pd.Series(np.zeros(n))).to_numpy(
            dtype=float)
        fit = np.where(np.isfinite(narrowing), fit, 0.0)
        out[f"confidence_eye_{side}"] = base * 2 * np.minimum(fit, 0.5)
    return pd.DataFrame(out, index=raw.index)


def finish_signals(table: pd.DataFrame, rest_aperture_mm: dict[str, float]) -> pd.DataFrame:
    """Re-zero at rest, apply physical bounds and confidence masks, and derive apertures.

    Parameters
    ----------
    table : pandas.DataFrame
        The per-frame table with raw head-plane signals, landmark signals, ``anchor``,
        ``epoch`` and ``confidence_*`` columns.
    rest_aperture_mm : dict of side to float
        Each eye's resting aperture (landmarks, median over rest frames), mm.

    Returns
    -------
    pandas.DataFrame
        The table with signals re-zeroed and masked (NaN where the region's confidence is
        below :data:`MIN_CONFIDENCE` or the value is impossible), ``valid_<region>_<side>``
        masks and ``eye_aperture_mm_<side>``.
    """
    table = table.copy()
    rest = {region: rest_frames(table, region=region) for region in set(REST_CHANNEL.values())}
    anchors = table["anchor"].to_numpy()
    epochs = table["epoch"].to_numpy()
    t = table["t_s"].to_numpy(dtype=float)
    for side in SIDES:
        for name in SIGNALS:
            column = f"{name}_mm_{side}"
            values = smooth(table[column].to_numpy(dtype=float), anchors, t, SMOOTH_S[name])
            table[column] = rezero(values, anchors, rest[REST_CHANNEL[name]])
            lm = f"{name}_lm_mm_{side}"
            if lm in table:
                table[lm] = rezero(table[lm].to_numpy(dtype=float), epochs,
                                   rest[REST_CHANNEL[name]])
        for region, names in REGIONS.items():
            valid = table[f"confidence_{region}_{side}"].to_numpy(dtype=float) >= MIN_CONFIDENCE
            for name in names:
                column = f"{name}_mm_{side}"
                values = table[column].to_numpy(dtype=float)
                if name != "lid_drop":
                    valid &= ~(np.abs(values) > MAX_TRAVEL_MM)
                table[column] = np.where(valid, values, np.nan)
            table[f"valid_{region}_{side}"] = valid
        aperture_rest = rest_aperture_mm.get(side, np.nan)
        drop = table[f"lid_drop_mm_{side}"].to_numpy(dtype=float)
        aperture = aperture_rest - drop
        possible = (aperture >= 0) & (aperture <= MAX_APERTURE_RATIO * aperture_rest)
        # A lid cannot travel past the lower lid: a narrowing beyond the aperture is a closed eye.
        aperture = np.where(np.isfinite(aperture), np.clip(aperture, 0.0, None), np.nan)
        aperture = np.where(possible | (aperture == 0), aperture, np.nan)
        table[f"eye_aperture_mm_{side}"] = aperture
        table[f"lid_drop_mm_{side}"] = np.where(np.isfinite(aperture),
                                                np.minimum(drop, aperture_rest), np.nan)
    return table
