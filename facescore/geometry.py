"""Head pose, the head-fixed frame and the millimetre scale.

Measures are taken in a *head-fixed* frame so that a tilted or turned head does not read as
asymmetry: landmark coordinates are rotated by the inverse of the head rotation that MediaPipe's
facial transformation matrix reports. Axes: X toward the patient's left, Y up, Z out of the face,
origin at the centroid of the rigid nasal landmarks (on the midline).

Millimetres come from the horizontal iris diameter, which is nearly the same in all adults
(11.7 mm) and is not covered by the lids.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .anatomy import IRIS_HORIZONTAL, RIGID, SIDES

IRIS_DIAMETER_MM = 11.7

#: Beyond these the head is too turned for left and right to be compared.
POSE_LIMITS_DEG = {"yaw": 25.0, "pitch": 25.0, "roll": 30.0}


@dataclass(frozen=True)
class HeadPose:
    """Head rotation in degrees: yaw (turn), pitch (nod) and roll (tilt)."""

    yaw: float
    pitch: float
    roll: float

    def within_limits(self, limits: dict[str, float] = POSE_LIMITS_DEG) -> bool:
        return all(abs(getattr(self, name)) <= limit for name, limit in limits.items())


def rotation_from_matrix(matrix: np.ndarray) -> np.ndarray:
    """The (3, 3) rotation part of a 4×4 transformation, with any scale removed."""
    linear = np.ascontiguousarray(np.asarray(matrix, dtype=float)[:3, :3])
    return _rotation_of(linear.tobytes()).copy()


@lru_cache(maxsize=8)
def _rotation_of(linear: bytes) -> np.ndarray:
    """:func:`rotation_from_matrix` of a (3, 3) float64 block given as bytes, remembered: each
    frame's rotation is asked for four times (its table row, the head-fixed frame, the head
    pose for the row and for the tracker), an SVD each."""
    u, _, vt = np.linalg.svd(np.frombuffer(linear).reshape(3, 3))
    rotation = u @ vt
    if np.linalg.det(rotation) < 0:
        rotation = u @ np.diag([1.0, 1.0, -1.0]) @ vt
    return rotation


def head_pose(matrix: np.ndarray) -> HeadPose:
    """Yaw, pitch and roll (degrees) of MediaPipe's facial transformation matrix.

    Roll is positive when the head tilts toward the patient's right shoulder as seen by the
    camera (the face rotates clockwise in the image); yaw positive when the patient turns toward
    their left.
    """
    r = rotation_from_matrix(matrix)
    pitch = np.degrees(np.arctan2(r[2, 1], r[2, 2]))
    yaw = np.degrees(np.arcsin(np.clip(-r[2, 0], -1, 1)))
    roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
    return HeadPose(float(yaw), float(pitch), float(-roll))


def head_fixed(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Landmarks in the head-fixed frame.

    Parameters
    ----------
    points : (478, 3) ndarray
        Landmarks in image pixels (x right, y down, z away from the camera).
    matrix : (4, 4) ndarray
        Facial transformation matrix of the same face.

    Returns
    -------
    (478, 3) ndarray
        X toward the patient's left, Y up, Z out of the face; pixels; origin on the nasal
        midline.
    """
    camera = points * np.array([1.0, -1.0, -1.0])  # y up, z toward the camera
    camera = camera - camera[list(RIGID)].mean(axis=0)
    return camera @ rotation_from_matrix(matrix)  # row-vector form of Rᵀ·p


def iris_diameter_px(head: np.ndarray) -> float:
    """Mean horizontal iris diameter of both eyes, in pixels, from head-fixed landmarks."""
    return float(np.mean([np.linalg.norm(head[a] - head[b]) for a, b in
                          (IRIS_HORIZONTAL[side] for side in SIDES)]))


def mm_per_px(iris_px: np.ndarray) -> float:
    """Scale from a series of iris diameters (px): 11.7 mm over their median."""
    values = np.asarray(iris_px, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size == 0:
        return float("nan")
    return IRIS_DIAMETER_MM / float(np.median(values))


def similarity_fit(source: np.ndarray, target: np.ndarray,
                   scale: float | None = None) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift) taking ``source`` to ``target``.

    Parameters
    ----------
    source, target : (..., N, 2) ndarray
        Point sets; leading dimensions are fitted one set at a time.
    scale : float, optional
        Impose this scale and fit only the rotation and shift (for points too close together
        to tell their scale well).

    Returns
    -------
    (..., 2, 3) ndarray
        Affine matrix A with ``target ≈ source @ A[:, :2].T + A[:, 2]`` (Umeyama's method).
    """
    mu_s, mu_t = source.mean(axis=-2), target.mean(axis=-2)
    s, t = source - mu_s[..., None, :], target - mu_t[..., None, :]
    covariance = np.swapaxes(t, -1, -2) @ s / source.shape[-2]
    u, d, vt = np.linalg.svd(covariance)
    reflect = np.sign(np.linalg.det(u @ vt))
    reflect = np.where(reflect == 0, 1.0, reflect)
    sign = np.zeros(reflect.shape + (2, 2))
    sign[..., 0, 0], sign[..., 1, 1] = 1.0, reflect
    rotation = u @ sign @ vt
    if scale is None:
        scale = (d[..., 0] + d[..., 1] * reflect) / s.var(axis=-2).sum(axis=-1)
    linear = np.asarray(scale)[..., None, None] * rotation
    shift = mu_t - (linear @ mu_s[..., None])[..., 0]
    return np.concatenate([linear, shift[..., None]], axis=-1)


def invert_affine(affine: np.ndarray) -> np.ndarray:
    """Inverse of a (..., 2, 3) affine matrix."""
    linear_inv = np.linalg.inv(affine[..., :2])
    return np.concatenate([linear_inv, -(linear_inv @ affine[..., 2:])], axis=-1)


def apply_affine(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a (..., 2, 3) affine matrix to (..., N, 2) points."""
    return points @ np.swapaxes(affine[..., :2], -1, -2) + affine[..., None, :, 2]
