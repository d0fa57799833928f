"""Ground-truth exam videos: a face photo warped along its face mesh with known per-side movement.

A phantom is how facescore proves its numbers. The photo's landmarks define a mesh; each exam
movement is a displacement of the mesh's vertices, built separately for each side and scaled by
that side's *gain* (1 = normal movement, 0 = paralysed). Every frame moves the vertices by the
movements' current envelopes, adds mild head sway, and renders the photo through the inverse of
that piecewise-linear warp. Because the vertex displacements are known exactly, so is each side's
excursion in millimetres, which is written beside the video as JSON.

Millimetres: the photo's scale is taken from its iris diameter (11.7 mm), as in the measurement.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from scipy.interpolate import LinearNDInterpolator

from . import geometry
from .anatomy import (
    BROW,
    BROW_INNER,
    EYE_CORNERS,
    LID_CENTRE_PAIRS,
    LIP_INNER,
    LOWER_LID,
    MOUTH_CORNER,
    RIGID,
    SIDES,
    UPPER_LID,
)
from .errors import FaceError
from .protocol import BLINK, DISTRACTORS, GLANCE, MOVEMENTS, TALKING, Timing

#: Movement at gain 1, mm. Brow raise and smile are mid-range normal values (BRIEF §3);
#: eye closure is a fraction of the resting aperture.
AMPLITUDE_MM = {
    "brow_raise": 8.0,  # brow upward
    "smile": 8.0,  # mouth corner, up and out at 45°
    "frown_brow_down": 4.0,
    "frown_brow_medial": 3.0,
    "frown_mouth_down": 3.0,
}
#: Share of the resting aperture the upper lid travels in a full (gain 1) closure. Below 1 so
#: that the warp never folds the lid over itself.
CLOSURE_FRACTION = 0.92
#: H.264 settings of every phantom: near-transparent quality, and settings that make the same
#: frames give the same bytes on any machine, so that a phantom's measurement (and the tests'
#: tolerances drawn from it) is reproducible. By default x264 runs one thread per core, and its
#: output depends on their number; with one thread its lookahead still ran beside the encoder,
#: and the macroblock tree's rate control then varied with how fast the frames came (the same
#: frames gave 5 different files in 5 runs here); without the macroblock tree it gave 1.
X264_OPTIONS = {"crf": "16", "preset": "veryfast", "threads": "1", "x264-params": "mbtree=0"}

#: Sizes of the distractors (:data:`facescore.protocol.DISTRACTORS`), mm. Kept apart from
#: :data:`AMPLITUDE_MM`, which every truth document records: a phantom without distractors
#: keeps its truth byte for byte.
DISTRACTOR_MM = {
    "pucker_medial": 4.5,  # each mouth corner toward the midline
    "talking_gap": 6.0,  # the widest opening of the lips while talking
    "glance_iris": 2.5,  # iris travel sideways: a glance of ~12° on a 12 mm eye radius
}
#: Each opening of the lips while talking, as a share of the widest (3.6, 6, 3 and 5 mm):
#: unequal, as syllables are, and each well above the 1.5 mm turn that
#: :func:`facescore.segments.talking_mask` counts.
TALKING_SYLLABLES = (0.6, 1.0, 0.5, 0.83)
#: How long the talking lasts, s (the four openings take half a second each).
TALKING_S = 2.0
#: A blink's closing, closed and opening phases, s: a spontaneous blink is over in 0.2-0.3 s.
BLINK_PHASES_S = (0.08, 0.04, 0.10)
#: A glance's turn (each way) and hold, s.
GLANCE_PHASES_S = (0.15, 0.6)

#: Share of the gap between the lips that a pucker closes: pursed lips meet (short of all of it,
#: so that the warp never folds one lip over the other).
PUCKER_CLOSES = 0.85
#: Inner lip margins without the corners, from the patient's right to left: INNER_UPPER[i]
#: faces INNER_LOWER[i].
INNER_UPPER = (191, 80, 81, 82, 13, 312, 311, 310, 415)
INNER_LOWER = (95, 88, 178, 87, 14, 317, 402, 318, 324)
#: Lip outlines of MediaPipe's mesh (its FACE_LANDMARKS_LIPS) without the corners: outer and
#: inner, upper and lower.
UPPER_LIP = (185, 40, 39, 37, 0, 267, 269, 270, 409, 191, 80, 81, 82, 13, 312, 311, 310, 415)
LOWER_LIP = (146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402, 318, 324)
#: Outer and inner mouth corners.
LIP_CORNERS = (61, 291, 78, 308)
#: The two irises (centre and ring) of the 478-point mesh.
IRISES = tuple(range(468, 478))


@dataclass(frozen=True)
class Sway:
    """Mild rigid head motion: amplitudes of slow sinusoids."""

    roll_deg: float = 2.0
    shift_px: float = 4.0  # in output pixels
    scale: float = 0.01


@dataclass
class PhantomSpec:
    """What to generate.

    Attributes
    ----------
    gains : dict of movement to {"left": g, "right": g}
        Per-side gain of each movement, and of ``"blink"`` (how far each eye's blinks close);
        missing sides or movements default to 1.
    order : sequence of str
        Movements in the order performed (see :data:`MOVEMENTS`).
    repetitions : int
        How many times the whole ``order`` is performed.
    size : (int, int)
        Output width and height, px.
    face_width_frac : float
        Width of the face (landmark cloud) as a share of the output width.
    face_centre_frac : (float, float)
        Where the face centre sits, as shares of the output width and height.
    fps : float
    noise : float
        Standard deviation of per-pixel Gaussian noise, grey levels.
    mirror : bool
        Write a mirror image, as a webcam preview would be (the truth stays anatomical).
    timing : Timing
        Phases of every exam movement, s.
    sway : Sway
    seed : int
        Seed of the pixel noise.
    distractors : sequence of str
        Non-exam events (names of :data:`facescore.protocol.DISTRACTORS`) performed in the
        rests: the k-th in the rest after the k-th exam movement, any beyond the last movement
        after it, one after the other. A rest that holds one is lengthened to ``timing.rest_s``
        either side of it; the rests without one stay as they are. Repeat a name to fill more
        rests.
    """

    gains: dict[str, dict[str, float]] = field(default_factory=dict)
    order: Sequence[str] = MOVEMENTS
    repetitions: int = 1
    size: tuple[int, int] = (480, 480)
    face_width_frac: float = 0.45
    face_centre_frac: tuple[float, float] = (0.5, 0.5)
    fps: float = 30.0
    noise: float = 2.0
    mirror: bool = False
    timing: Timing = field(default_factory=Timing)
    sway: Sway = field(default_factory=Sway)
    seed: int = 0
    distractors: Sequence[str] = ()

    def gain(self, movement: str, side: str) -> float:
        return float(self.gains.get(movement, {}).get(side, 1.0))


def right_weak(gain: float, **kwargs) -> PhantomSpec:
    """A spec in which every movement of the right side has ``gain`` and the left is normal."""
    gains = {m: {"left": 1.0, "right": gain} for m in MOVEMENTS}
    return PhantomSpec(gains=gains, **kwargs)


# --- the face and its movement fields ------------------------------------------------------------

@dataclass(frozen=True)
class BaseFace:
    """A photo and its mesh, in photo pixels."""

    rgb: np.ndarray
    points: np.ndarray  # (478, 2) landmarks
    to_left: np.ndarray  # unit vector toward the patient's left
    up: np.ndarray  # unit vector upward
    origin: np.ndarray  # nasal midline point
    iod_px: float
    mm_per_px: float
    name: str


def load_base_face(rgb: np.ndarray, name: str, model_path=None) -> BaseFace:
    """Find the face in a photo and set up its frame of reference.

    Raises
    ------
    FaceError
        When the photo has no face.
    """
    from .landmarks import FaceTracker, choose_face

    with FaceTracker(model_path, blendshapes=False) as tracker:
        faces = tracker.search(rgb)
    if not faces:
        raise FaceError(f"no face found in the phantom's base photo {name}")
    face = choose_face(faces, rgb.shape[1], rgb.shape[0])
    head = geometry.head_fixed(face.points, face.matrix)
    points = face.points[:, :2]
    right_eye = points[[u for u, _ in LID_CENTRE_PAIRS["right"]]].mean(axis=0)
    left_eye = points[[u for u, _ in LID_CENTRE_PAIRS["left"]]].mean(axis=0)
    to_left = (left_eye - right_eye) / np.linalg.norm(left_eye - right_eye)
    up = np.array([to_left[1], -to_left[0]])
    return BaseFace(
        rgb=np.ascontiguousarray(rgb),
        points=points,
        to_left=to_left,
        up=up,
        origin=points[list(RIGID)].mean(axis=0),
        iod_px=float(np.linalg.norm(left_eye - right_eye)),
        mm_per_px=geometry.IRIS_DIAMETER_MM / geometry.iris_diameter_px(head),
        name=name,
    )


def astronaut() -> tuple[np.ndarray, str]:
    """scikit-image's astronaut photo (NASA, public domain): the bundled base face."""
    from skimage import data

    return data.astronaut(), "skimage.data.astronaut (NASA, public domain)"


def _local(face: BaseFace) -> tuple[np.ndarray, np.ndarray]:
    """Each vertex's lateral (toward the patient's left) and vertical coordinate, px."""
    rel = face.points - face.origin
    return rel @ face.to_left, rel @ face.up


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _vector(face: BaseFace, side: str, outward: np.ndarray, upward: np.ndarray) -> np.ndarray:
    """(478, 2) image displacement from per-vertex outward and upward components."""
    sign = 1.0 if side == "left" else -1.0
    return outward[:, None] * (sign * face.to_left) + upward[:, None] * face.up


def _on_side(face: BaseFace, side: str) -> np.ndarray:
    u, _ = _local(face)
    return (u > 0) if side == "left" else (u < 0)


def _brow_profile(face: BaseFace, side: str) -> np.ndarray:
    """How much each vertex of one side follows its brow: 1 on the brow, 0 at the lid margin."""
    u, w = _local(face)
    brow_w = w[list(BROW[side])].mean()
    lid_w = w[[p for p, _ in LID_CENTRE_PAIRS[side]]].mean()
    top_w = w.max()
    below = np.clip((w - lid_w) / (brow_w - lid_w), 0.0, 1.0)
    above = 1.0 - 0.65 * np.clip((w - brow_w) / (top_w - brow_w), 0.0, 1.0)
    vertical = np.where(w >= brow_w, above, _smoothstep(below))
    u_side = np.abs(u)
    inner = np.abs(u[list(BROW_INNER[side])]).min()
    outer = np.abs(u[list(BROW[side])]).max()
    lateral = _smoothstep(u_side / inner) * (1.0 - _smoothstep((u_side - outer) / (0.5 * outer)))
    return vertical * lateral * _on_side(face, side)


def brow_raise_field(face: BaseFace, side: str) -> np.ndarray:
    """Vertex displacements (478, 2) of one side's brow raise at gain 1, photo px."""
    lift = AMPLITUDE_MM["brow_raise"] / face.mm_per_px
    return _vector(face, side, np.zeros(len(face.points)), lift * _brow_profile(face, side))


def _lid_curve(face: BaseFace, side: str, indices: Sequence[int]) -> tuple[np.ndarray, ...]:
    u, w = _local(face)
    lateral, medial = EYE_CORNERS[side]
    us = np.concatenate([[u[lateral]], u[list(indices)], [u[medial]]])
    ws = np.concatenate([[w[lateral]], w[list(indices)], [w[medial]]])
    order = np.argsort(us)
    return us[order], ws[order]


def eye_closure_field(face: BaseFace, side: str) -> np.ndarray:
    """Vertex displacements of one side's eye closure at gain 1: the upper lid comes down.

    The upper lid slides down over the eye as a sheet (the tarsal plate), 0.6 aperture heights
    tall, and the skin above it follows with a fall-off over one aperture height. The field
    carries the whole eye region down with the lid (so that the warp never folds); the renderer
    then shows the still eye and lower lid wherever the lid has not covered them
    (:func:`render_closure`), which is how a real lid occludes the globe.
    """
    u, w = _local(face)
    up_u, up_w = _lid_curve(face, side, UPPER_LID[side])
    lo_u, lo_w = _lid_curve(face, side, LOWER_LID[side])
    upper = np.interp(u, up_u, up_w)
    lower = np.interp(u, lo_u, lo_w)
    gap = np.maximum(upper - lower, 0.0)
    travel = CLOSURE_FRACTION * gap
    aperture = gap.max()
    above = np.clip(1.0 - (w - upper - 0.6 * aperture) / aperture, 0.0, 1.0)
    below = np.clip(1.0 - (lower - w) / aperture, 0.0, 1.0)
    weight = np.where(w > upper, above, np.where(w < lower, below, 1.0))
    in_span = (u >= min(up_u[0], lo_u[0])) & (u <= max(up_u[-1], lo_u[-1]))
    down = travel * weight * in_span * _on_side(face, side)
    return _vector(face, side, np.zeros(len(face.points)), -down)


def _eye_outline(side: str, indices: Sequence[int]) -> list[int]:
    lateral, medial = EYE_CORNERS[side]
    return [lateral, *indices, medial]


def uncovered_eye_mask(face: BaseFace, still: np.ndarray, closing: np.ndarray,
                       output: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Where the still eye shows through while the lids close: a (H, W) float mask.

    Per side: the part of the eye between the closing upper lid and the lower lid, and a band
    below the lower lid (which stays while the closure field would carry it down).

    Parameters
    ----------
    still, closing : (478, 2) ndarray
        Vertex positions (photo px) without and with the eye closure.
    output : (2, 3) ndarray
        Photo px → output px.
    """
    return eye_mask(still, closing, face.up, output, size)


def eye_mask(still: np.ndarray, closing: np.ndarray, up: np.ndarray, output: np.ndarray,
             size: tuple[int, int]) -> np.ndarray:
    """:func:`uncovered_eye_mask` for vertices in any picture whose upward direction is ``up``.

    Parameters
    ----------
    still, closing : (478, 2) ndarray
        Vertex positions without and with the eye closure, in the picture's px.
    up : (2,) ndarray
        Unit vector toward the top of the head in the same px (y grows downward).
    output : (2, 3) ndarray
        Picture px → mask px.
    size : (int, int)
        Mask width and height, px.

    Returns
    -------
    (H, W) float32 ndarray
        1 where the still eye shows, 0 where the closing render does; anti-aliased edges.
    """
    width, height = size
    mask = np.zeros((height, width), np.float32)
    shift = 4  # sub-pixel polygon vertices
    for side in SIDES:
        upper = _eye_outline(side, UPPER_LID[side])
        lower = _eye_outline(side, LOWER_LID[side])
        top = closing[upper]
        bottom = still[lower]
        aperture = np.linalg.norm(still[UPPER_LID[side][3]] - still[LOWER_LID[side][3]])
        band = bottom - 1.3 * aperture * up
        for polygon in (np.vstack([top, bottom[::-1]]), np.vstack([bottom, band[::-1]])):
            points = geometry.apply_affine(output, polygon) * (1 << shift)
            cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1.0, cv2.LINE_AA, shift)
    return mask


def composite_eye(mask: np.ndarray, still: np.ndarray, closing: np.ndarray) -> np.ndarray:
    """The still render where ``mask`` is 1, the closing render where it is 0 (uint8).

    ``mask`` is (H, W); the renders are (H, W) or (H, W, C).
    """
    weight = mask if still.ndim == 2 else mask[..., None]
    return (weight * still + (1 - weight) * closing).astype(np.uint8)


def _mouth_weight(face: BaseFace, side: str, sigma_iod: float) -> np.ndarray:
    u, _ = _local(face)
    corner = face.points[MOUTH_CORNER[side]]
    distance = np.linalg.norm(face.points - corner, axis=1)
    bump = np.exp(-0.5 * (distance / (sigma_iod * face.iod_px)) ** 2)
    corner_u = abs(u[MOUTH_CORNER[side]])
    return bump * _smoothstep(np.abs(u) / corner_u) * _on_side(face, side)


def smile_field(face: BaseFace, side: str) -> np.ndarray:
    """Vertex displacements of one side's smile at gain 1: the corner goes up and out at 45°."""
    step = AMPLITUDE_MM["smile"] / face.mm_per_px / np.sqrt(2)
    weight = _mouth_weight(face, side, 0.35)
    return _vector(face, side, step * weight, step * weight)


def frown_field(face: BaseFace, side: str) -> np.ndarray:
    """One side's frown at gain 1: brow down and toward the midline, mouth corner down."""
    u, _ = _local(face)
    profile = _brow_profile(face, side)
    inner = np.abs(u[list(BROW_INNER[side])]).mean()
    outer = np.abs(u[list(BROW[side])]).max()
    medial_share = 1.0 - _smoothstep((np.abs(u) - inner) / (outer - inner))
    down = AMPLITUDE_MM["frown_brow_down"] / face.mm_per_px * profile
    medial = AMPLITUDE_MM["frown_brow_medial"] / face.mm_per_px * profile * medial_share
    mouth = AMPLITUDE_MM["frown_mouth_down"] / face.mm_per_px * _mouth_weight(face, side, 0.3)
    return _vector(face, side, -medial, -down - mouth)


FIELDS: dict[str, Callable[[BaseFace, str], np.ndarray]] = {
    "brow_raise": brow_raise_field,
    "eye_closure": eye_closure_field,
    "smile": smile_field,
    "frown": frown_field,
}


# --- distractors: what a recording holds besides the exam ----------------------------------------

def _mouth_frame(face: BaseFace) -> tuple[float, float, float]:
    """The mouth's centre (lateral and vertical, px, as :func:`_local`) and half-width, px."""
    u, w = _local(face)
    corners = [MOUTH_CORNER["left"], MOUTH_CORNER["right"]]
    centre_u = float(u[corners].mean())
    centre_w = float(w[list(LIP_CORNERS) + list(UPPER_LIP) + list(LOWER_LIP)].mean())
    return centre_u, centre_w, float(np.ptp(u[corners]) / 2)


def lip_pucker_field(face: BaseFace) -> np.ndarray:
    """Vertex displacements (478, 2) of a lip pucker, photo px.

    The mouth narrows about its centre: each outer corner moves :data:`DISTRACTOR_MM`
    ``pucker_medial`` toward the midline, the lips between in proportion, and the skin around
    follows over half a mouth width. The lips purse: each lip moves toward the line between
    them by half of :data:`PUCKER_CLOSES` of the gap at its place (none on a closed mouth), the
    skin beyond them following over one lip height. The lips' forward push has no 2-D image.
    """
    u, w = _local(face)
    centre_u, _, half = _mouth_frame(face)
    line_w = w[list(LIP_INNER)].mean()
    du, dw = (u - centre_u) / half, (w - line_w) / half
    reach = np.hypot(du, dw)
    weight = 1.0 - _smoothstep((reach - 1.0) / 0.5)  # 1 on the lips, 0 half a width beyond
    medial = DISTRACTOR_MM["pucker_medial"] / face.mm_per_px * du * weight
    # Half the gap between facing inner lip points, along the mouth (0 at the corners).
    corners = [MOUTH_CORNER["right"], MOUTH_CORNER["left"]]
    along = np.concatenate([[u[corners[0]]], u[list(INNER_UPPER)], [u[corners[1]]]])
    gaps = np.concatenate([[0.0], w[list(INNER_UPPER)] - w[list(INNER_LOWER)], [0.0]])
    order = np.argsort(along)
    half_gap = 0.5 * np.interp(u, along[order], np.maximum(gaps[order], 0.0), left=0.0,
                               right=0.0)
    lip_height = np.abs(w[[0, 17]] - line_w).mean()  # outer lip margins on the midline
    beyond = np.abs(w - line_w) - lip_height
    follow = 1.0 - _smoothstep(beyond / lip_height)
    lips = np.zeros(len(u))
    lips[list(UPPER_LIP)], lips[list(LOWER_LIP)] = 1.0, -1.0
    side = np.where(lips != 0, lips, np.sign(w - line_w))  # which lip a vertex goes with
    close = PUCKER_CLOSES * half_gap * np.where(lips != 0, 1.0, follow)
    return -medial[:, None] * face.to_left - (side * close)[:, None] * face.up


def talking_field(face: BaseFace) -> np.ndarray:
    """Vertex displacements of the jaw at its widest opening in talking, photo px.

    The lower lip and the chin come down by :data:`DISTRACTOR_MM` ``talking_gap`` with the jaw;
    the upper lip stays. The lower lip opens as a lens (full at the centre, none at the
    corners); below the lips the jaw carries the skin down across the chin, fading beyond the
    mouth corners toward the jaw's angle, and nothing above the corners moves.
    """
    u, w = _local(face)
    centre_u, _, half = _mouth_frame(face)
    corners_w = w[[MOUTH_CORNER["left"], MOUTH_CORNER["right"]]].mean()
    chin_top = w[17]  # outer lower lip on the midline: the jaw's skin moves fully below it
    lateral = np.abs(u - centre_u) / half
    jaw = (1.0 - _smoothstep((lateral - 1.0) / 1.5)) \
        * _smoothstep((corners_w - w) / (corners_w - chin_top))
    lower = np.zeros(len(u), dtype=bool)
    lower[list(LOWER_LIP)] = True
    lens = np.clip(1.0 - lateral ** 2, 0.0, 1.0)
    weight = np.where(lower, np.maximum(lens, jaw), jaw)
    weight[list(UPPER_LIP) + list(LIP_CORNERS)] = 0.0
    drop = DISTRACTOR_MM["talking_gap"] / face.mm_per_px * weight
    return -drop[:, None] * face.up


def blink_field(face: BaseFace, depth: Mapping[str, float] | None = None) -> np.ndarray:
    """A blink at its deepest: each side's eye closure, full unless ``depth`` gives that side's
    share (an eye that cannot close fully cannot blink fully either), rendered by occlusion as
    an eye closure is, photo px."""
    depth = depth or {}
    return sum(depth.get(side, 1.0) * eye_closure_field(face, side) for side in SIDES)


def glance_field(face: BaseFace) -> np.ndarray:
    """Both irises :data:`DISTRACTOR_MM` ``glance_iris`` toward the patient's left, photo px;
    the lids and the rest of the face stay."""
    out = np.zeros_like(face.points, dtype=float)
    out[list(IRISES)] = DISTRACTOR_MM["glance_iris"] / face.mm_per_px * face.to_left
    return out


#: Each distractor's whole-face displacement at its peak (level 1), photo px.
DISTRACTOR_FIELDS: dict[str, Callable[[BaseFace], np.ndarray]] = {
    "lip_pucker": lip_pucker_field,
    TALKING: talking_field,
    BLINK: blink_field,
    GLANCE: glance_field,
}
#: Distractors rendered by occlusion, as an eye closure.
OCCLUDING = {BLINK}


def distractor_fields(face: BaseFace, names: Sequence[str],
                      spec: PhantomSpec | None = None) -> dict[str, np.ndarray]:
    """The fields of the distractors in ``names`` (each once), photo px; blinks as deep on
    each side as ``spec``'s ``blink`` gains say (full by default)."""
    out = {name: DISTRACTOR_FIELDS[name](face) for name in dict.fromkeys(names)}
    if BLINK in out and spec is not None:
        out[BLINK] = blink_field(face, {side: spec.gain(BLINK, side) for side in SIDES})
    return out


# --- truth ---------------------------------------------------------------------------------------

def side_truth(face: BaseFace, movement: str, displacement: np.ndarray, side: str) -> dict:
    """Per-side excursions (mm) of a vertex displacement field at its peak.

    The measures use the same landmark groups as the measurement, so that truth and measurement
    speak of the same anatomy. ``excursion_mm`` is the movement's primary measure.
    """
    sign = 1.0 if side == "left" else -1.0
    outward_axis = sign * face.to_left

    def mean(indices) -> np.ndarray:
        return displacement[list(indices)].mean(axis=0) * face.mm_per_px

    brow, inner = mean(BROW[side]), mean(BROW_INNER[side])
    corner = mean([MOUTH_CORNER[side]])
    lid = mean([p for p, _ in LID_CENTRE_PAIRS[side]])
    if movement == "brow_raise":
        return {"excursion_mm": float(brow @ face.up), "brow_lift_mm": float(brow @ face.up)}
    if movement == "eye_closure":
        u, w = _local(face)
        aperture = np.mean([w[a] - w[b] for a, b in LID_CENTRE_PAIRS[side]]) * face.mm_per_px
        drop = float(-(lid @ face.up))
        return {"excursion_mm": drop, "lid_drop_mm": drop,
                "rest_aperture_mm": float(aperture), "residual_gap_mm": float(aperture - drop)}
    if movement == "smile":
        return {"excursion_mm": float(np.linalg.norm(corner)),
                "mouth_out_mm": float(corner @ outward_axis),
                "mouth_up_mm": float(corner @ face.up)}
    if movement == "frown":
        descent = float(-(brow @ face.up))
        return {"excursion_mm": descent, "brow_descent_mm": descent,
                "brow_medial_mm": float(-(inner @ outward_axis)),
                "mouth_down_mm": float(-(corner @ face.up))}
    raise ValueError(f"unknown movement {movement!r}")


# --- the timeline --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Performance:
    movement: str
    rep: int
    start_s: float
    peak_start_s: float
    peak_end_s: float
    end_s: float

    @property
    def peak_s(self) -> float:
        return (self.peak_start_s + self.peak_end_s) / 2

    def envelope(self, t: float) -> float:
        """0 at rest, 1 at peak, raised-cosine ramps."""
        return _ramps(t, self.start_s, self.peak_start_s, self.peak_end_s, self.end_s)


def _ramps(t: float, start: float, peak_start: float, peak_end: float, end: float) -> float:
    """0 outside (start, end), 1 from peak_start to peak_end, raised-cosine ramps between."""
    if t <= start or t >= end:
        return 0.0
    if t < peak_start:
        x = (t - start) / (peak_start - start)
    elif t <= peak_end:
        return 1.0
    else:
        x = (end - t) / (end - peak_end)
    return 0.5 - 0.5 * np.cos(np.pi * x)


@dataclass(frozen=True)
class Distractor:
    """One non-exam event of a phantom: when it happens and how far it has gone.

    Attributes
    ----------
    name : str
        One of :data:`facescore.protocol.DISTRACTORS`.
    start_s, peak_start_s, peak_end_s, end_s : float
        Phases, s; talking has no plateau (its peak times bound the openings).
    """

    name: str
    start_s: float
    peak_start_s: float
    peak_end_s: float
    end_s: float

    @property
    def movement(self) -> str:
        """The name, as a :class:`Performance` has its movement (for messages)."""
        return self.name

    def envelope(self, t: float) -> float:
        """Share (0-1) of the distractor's field at ``t`` s.

        Talking opens and closes the jaw once per entry of :data:`TALKING_SYLLABLES`
        (sin² bumps, lips back together between them); the others ramp up, hold and ramp
        down as an exam movement does.
        """
        if self.name != TALKING:
            return _ramps(t, self.start_s, self.peak_start_s, self.peak_end_s, self.end_s)
        if t <= self.start_s or t >= self.end_s:
            return 0.0
        n = len(TALKING_SYLLABLES)
        x = (t - self.start_s) / (self.end_s - self.start_s) * n
        k = min(int(x), n - 1)
        return float(TALKING_SYLLABLES[k] * np.sin(np.pi * (x - k)) ** 2)


def distractor_at(name: str, start: float, timing: Timing) -> Distractor:
    """A distractor beginning at ``start`` s; pucker is paced as the exam's movements."""
    if name == "lip_pucker":
        ramp, hold = timing.ramp_s, timing.hold_s
        return Distractor(name, start, start + ramp, start + ramp + hold,
                          start + 2 * ramp + hold)
    if name == BLINK:
        closing, closed, opening = BLINK_PHASES_S
        return Distractor(name, start, start + closing, start + closing + closed,
                          start + closing + closed + opening)
    if name == GLANCE:
        turn, hold = GLANCE_PHASES_S
        return Distractor(name, start, start + turn, start + turn + hold,
                          start + 2 * turn + hold)
    if name == TALKING:
        return Distractor(name, start, start, start + TALKING_S, start + TALKING_S)
    raise ValueError(f"unknown distractor {name!r}; choose from {', '.join(DISTRACTORS)}")


def schedule(spec: PhantomSpec) -> tuple[list[Performance], float]:
    """Performances in order, and the video's duration, s (distractors included)."""
    performances, _, duration = full_schedule(spec)
    return performances, duration


def full_schedule(spec: PhantomSpec) -> tuple[list[Performance], list[Distractor], float]:
    """Exam performances, the distractors in their rests, and the video's duration, s.

    Without distractors this is :func:`exam_schedule`. With them, the k-th distractor is
    performed ``timing.rest_s`` after the k-th performance ends and the next performance starts
    ``timing.rest_s`` after the distractor ends (see :attr:`PhantomSpec.distractors`).
    """
    performances, duration = exam_schedule(spec.order, spec.repetitions, spec.timing)
    if not spec.distractors:
        return performances, [], duration
    for name in spec.distractors:
        if name not in DISTRACTOR_FIELDS:
            raise ValueError(f"unknown distractor {name!r}; choose from "
                             f"{', '.join(DISTRACTORS)}")
    rest = spec.timing.rest_s
    shifted: list[Performance] = []
    distractors: list[Distractor] = []
    delay = 0.0  # how much the distractors so far have pushed the exam back, s
    queue = list(spec.distractors)
    for p in performances:
        p = replace(p, start_s=p.start_s + delay, peak_start_s=p.peak_start_s + delay,
                    peak_end_s=p.peak_end_s + delay, end_s=p.end_s + delay)
        shifted.append(p)
        if queue:
            d = distractor_at(queue.pop(0), p.end_s + rest, spec.timing)
            distractors.append(d)
            delay += d.end_s - d.start_s + rest
    t = duration + delay
    for name in queue:  # more distractors than rests: one after the other after the exam
        d = distractor_at(name, t, spec.timing)
        distractors.append(d)
        t = d.end_s + rest
    return shifted, distractors, t


def exam_schedule(order: Sequence[str], repetitions: int,
                  timing: Timing) -> tuple[list[Performance], float]:
    """When each movement is performed in a scripted exam, and the exam's duration, s.

    Shared by the phantom (which performs it) and the guided session (which prompts it).
    """
    t = timing.lead_in_s
    performances = []
    for rep in range(1, repetitions + 1):
        for movement in order:
            if movement not in FIELDS:
                raise ValueError(f"unknown movement {movement!r}; choose from {MOVEMENTS}")
            start = t
            peak_start = start + timing.ramp_s
            peak_end = peak_start + timing.hold_s
            end = peak_end + timing.ramp_s
            performances.append(Performance(movement, rep, start, peak_start, peak_end, end))
            t = end + timing.rest_s
    return performances, t


# --- rendering -----------------------------------------------------------------------------------

def _placement(face: BaseFace, spec: PhantomSpec) -> np.ndarray:
    """(2, 3) affine from photo px to output px that sizes and places the face."""
    width, height = spec.size
    face_width = np.ptp(face.points[:, 0])
    scale = spec.face_width_frac * width / face_width
    centre = face.points.mean(axis=0)
    target = np.array([spec.face_centre_frac[0] * width, spec.face_centre_frac[1] * height])
    return np.array([[scale, 0, target[0] - scale * centre[0]],
                     [0, scale, target[1] - scale * centre[1]]])


def _sway(spec: PhantomSpec, t: float, centre: np.ndarray) -> np.ndarray:
    s = spec.sway
    angle = s.roll_deg * np.sin(2 * np.pi * t / 5.0)
    scale = 1.0 + s.scale * np.sin(2 * np.pi * t / 6.0)
    affine = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, scale)
    affine[:, 2] += s.shift_px * np.array([np.sin(2 * np.pi * t / 7.0),
                                           0.75 * np.sin(2 * np.pi * t / 4.0)])
    return affine


def face_ring(points: np.ndarray) -> np.ndarray:
    """A ring of still points well outside the face: the hull of the mesh grown by 35 %.

    Parameters
    ----------
    points : (478, 2) ndarray
        Mesh vertices, px.

    Returns
    -------
    (K, 2) float32 ndarray
        Hull vertices, same px.
    """
    centre = points.mean(axis=0)
    ring = centre + 1.35 * (points - centre)
    return cv2.convexHull(ring.astype(np.float32)).reshape(-1, 2)


def _anchors(face: BaseFace, spec: PhantomSpec, to_photo: np.ndarray) -> np.ndarray:
    """Still points: a ring well outside the face and the output's corners, in photo px."""
    hull = face_ring(face.points)
    width, height = spec.size
    margin = 0.25 * max(width, height)
    corners = np.array([[-margin, -margin], [width + margin, -margin],
                        [-margin, height + margin], [width + margin, height + margin],
                        [width / 2, -margin], [width / 2, height + margin],
                        [-margin, height / 2], [width + margin, height / 2]])
    return np.vstack([hull, geometry.apply_affine(to_photo, corners)])


def render_frame(face: BaseFace, displacement: np.ndarray, output: np.ndarray,
                 spec: PhantomSpec, anchors: np.ndarray) -> np.ndarray:
    """Render the photo with its vertices moved by ``displacement`` and placed by ``output``.

    Parameters
    ----------
    displacement : (478, 2) ndarray
        Vertex displacement in photo px.
    output : (2, 3) ndarray
        Affine from photo px to output px (placement and sway).

    Returns
    -------
    (H, W, 3) uint8 ndarray
    """
    width, height = spec.size
    source = np.vstack([face.points, anchors])
    moved = np.vstack([face.points + displacement, anchors])
    # Piecewise-linear inverse warp, output position → photo position, evaluated at every
    # output pixel: exact at the vertices, linear between them.
    inverse = LinearNDInterpolator(geometry.apply_affine(output, moved), source)
    grid_y, grid_x = np.mgrid[0:height, 0:width]
    full = inverse(grid_x, grid_y).astype(np.float32)
    # Outside the anchors' hull the interpolator gives NaN, and remap reads NaN coordinates as
    # whatever is in memory (the phantom then differed from run to run). Nothing moves there:
    # the exact map is the placement's own inverse.
    outside = np.isnan(full[..., 0]) | np.isnan(full[..., 1])
    if outside.any():
        pixels = np.column_stack([grid_x[outside], grid_y[outside]]).astype(float)
        full[outside] = geometry.apply_affine(geometry.invert_affine(output), pixels)
    return cv2.remap(face.rgb, full[..., 0], full[..., 1], cv2.INTER_CUBIC,
                     borderMode=cv2.BORDER_REFLECT101)


def compose_frame(face: BaseFace, others: np.ndarray, closure: np.ndarray, output: np.ndarray,
                  spec: PhantomSpec, anchors: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """One finished picture: the face moved by ``others`` and its lids by ``closure`` (rendered
    by occlusion, :func:`uncovered_eye_mask`), the spec's pixel noise and mirroring applied.

    Parameters
    ----------
    others, closure : (478, 2) ndarray
        Vertex displacements, photo px (:func:`displacement_at`).
    output : (2, 3) ndarray
        Photo px → output px (placement and sway).
    rng : numpy.random.Generator
        Source of the pixel noise.

    Returns
    -------
    (H, W, 3) uint8 ndarray
    """
    rgb = render_frame(face, others + closure, output, spec, anchors)
    if np.abs(closure).max() > 0:
        eye = render_frame(face, others, output, spec, anchors)
        still = face.points + others
        mask = uncovered_eye_mask(face, still, still + closure, output, spec.size)
        rgb = composite_eye(mask, eye, rgb)
    if spec.noise:
        noisy = rgb + rng.normal(0.0, spec.noise, rgb.shape)
        rgb = np.clip(noisy, 0, 255).astype(np.uint8)
    if spec.mirror:
        rgb = np.ascontiguousarray(rgb[:, ::-1])
    return rgb


def displacement_at(t: float, performances: Sequence[Performance], spec: PhantomSpec,
                    fields: dict[str, dict[str, np.ndarray]],
                    distractors: Sequence[Distractor] = (),
                    distractor_fields: dict[str, np.ndarray] | None = None,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Vertex displacement at time ``t``: every movement but eye closure, and eye closure.

    Parameters
    ----------
    t : float
        Time, s.
    fields : dict of movement to {side: (478, 2) ndarray}
        Each side's field at gain 1.
    distractors : sequence of Distractor
        Non-exam events, as the healthy face makes them (a blink's depth per side is already
        in its field: :func:`distractor_fields`).
    distractor_fields : dict of name to (478, 2) ndarray
        Each distractor's field at its peak (:func:`distractor_fields`), same units.

    Returns
    -------
    others, closure : (478, 2) ndarray
        In the fields' units. Eye closure (and a blink) is apart because it is rendered by
        occlusion.
    """
    zeros = np.zeros_like(next(iter(fields.values()))["left"])
    moves = {"eye_closure": zeros.copy()}
    for p in performances:
        level = p.envelope(t)
        if level:
            step = level * sum(spec.gain(p.movement, side) * fields[p.movement][side]
                               for side in SIDES)
            moves[p.movement] = moves.get(p.movement, 0) + step
    for d in distractors:
        level = d.envelope(t)
        if level:
            key = "eye_closure" if d.name in OCCLUDING else d.name
            moves[key] = moves.get(key, 0) + level * distractor_fields[d.name]
    closure = moves.pop("eye_closure")
    others = sum(moves.values(), zeros.copy())
    return others, closure


@dataclass
class Phantom:
    """A generated phantom: where it was written and its truth."""

    video: Path
    truth_path: Path
    truth: dict


def distractor_truth(face: BaseFace, d: Distractor, displacement: np.ndarray) -> dict:
    """What a distractor did, from its field at its peak: when, and its size in mm.

    Parameters
    ----------
    displacement : (478, 2) ndarray
        The distractor's field at level 1, in the face's px.

    Returns
    -------
    dict
        ``name``, ``exam`` (False: never an exam movement), its phases (s) and its measures:
        each mouth corner's travel toward the midline (pucker); each opening's lip gap added
        on the midline (talking); each upper lid's drop (blink); the irises' travel toward the
        patient's left (glance).
    """
    mm = displacement * face.mm_per_px
    item: dict = {"name": d.name, "exam": False, "start_s": round(d.start_s, 4),
                  "peak_start_s": round(d.peak_start_s, 4), "peak_end_s": round(d.peak_end_s, 4),
                  "end_s": round(d.end_s, 4)}
    if d.name == "lip_pucker":
        for side in SIDES:
            outward = (1.0 if side == "left" else -1.0) * face.to_left
            item[side] = {"corner_medial_mm": float(-(mm[MOUTH_CORNER[side]] @ outward))}
        item["lip_gap_closed_mm"] = float((mm[LIP_INNER[1]] - mm[LIP_INNER[0]]) @ face.up)
    elif d.name == TALKING:
        gap = float((mm[LIP_INNER[0]] - mm[LIP_INNER[1]]) @ face.up)
        item["lip_gap_added_mm"] = [round(share * gap, 4) for share in TALKING_SYLLABLES]
    elif d.name == BLINK:
        for side in SIDES:
            lid = mm[[p for p, _ in LID_CENTRE_PAIRS[side]]].mean(axis=0)
            item[side] = {"lid_drop_mm": float(-(lid @ face.up))}
    elif d.name == GLANCE:
        item["iris_to_left_mm"] = float(mm[list(IRISES)].mean(axis=0) @ face.to_left)
    return item


def exam_truth(face: BaseFace, spec: PhantomSpec, performances: Sequence[Performance],
               duration: float, fields: dict[str, dict[str, np.ndarray]],
               distractors: Sequence[Distractor] = (),
               distractor_fields: dict[str, np.ndarray] | None = None) -> dict:
    """The truth document (schema ``facescore-phantom-truth/1``) of a performed exam.

    Parameters
    ----------
    face : BaseFace
        The face the fields were built on (its ``mm_per_px`` turns them into mm).
    performances : sequence of Performance
    duration : float
        Video duration, s.
    fields : dict of movement to {side: (478, 2) ndarray}
        Each side's field at gain 1; ``spec``'s gains scale them.
    distractors : sequence of Distractor
        Non-exam events; listed under ``distractors`` (:func:`distractor_truth`), apart from
        the exam's ``performances``. Without any, the document has neither that key nor the
        spec's ``distractors`` (it is then what it was before distractors existed).
    distractor_fields : dict of name to (478, 2) ndarray
        Their fields at level 1.
    """
    items = []
    for p in performances:
        sides = {side: side_truth(face, p.movement, spec.gain(p.movement, side)
                                  * fields[p.movement][side], side) for side in SIDES}
        left, right = sides["left"]["excursion_mm"], sides["right"]["excursion_mm"]
        stronger = max(abs(left), abs(right))
        items.append({
            "movement": p.movement, "rep": p.rep,
            "start_s": round(p.start_s, 4), "peak_s": round(p.peak_s, 4),
            "peak_start_s": round(p.peak_start_s, 4), "peak_end_s": round(p.peak_end_s, 4),
            "end_s": round(p.end_s, 4),
            "left": sides["left"], "right": sides["right"],
            "right_left_ratio": right / left if left else None,
            "symmetry_pct": 100 * min(abs(left), abs(right)) / stronger if stronger else 100.0,
            "weaker_side": None if left == right else ("right" if abs(right) < abs(left)
                                                       else "left"),
        })
    spec_dict = asdict(spec)
    spec_dict["order"] = list(spec.order)
    if spec.distractors:
        spec_dict["distractors"] = list(spec.distractors)
    else:
        del spec_dict["distractors"]
    truth = {
        "schema": "facescore-phantom-truth/1",
        "base_face": face.name,
        "base_mm_per_px": face.mm_per_px,
        "duration_s": duration,
        "spec": spec_dict,
        "amplitude_mm": AMPLITUDE_MM,
        "closure_fraction": CLOSURE_FRACTION,
        "performances": items,
        "note": "Sides are the patient's anatomical sides. excursion_mm is each movement's "
                "primary measure: brow lift, upper-lid drop, mouth-corner excursion, brow descent.",
    }
    if distractors:
        truth["distractor_mm"] = DISTRACTOR_MM
        truth["distractors"] = [distractor_truth(face, d, distractor_fields[d.name])
                                for d in distractors]
        truth["note"] += (" distractors are non-exam events (a pucker, talking, a blink, a "
                          "glance) performed in the rests: none is an exam movement, and none "
                          "should be measured as one.")
    return truth


def generate(path: str | Path, spec: PhantomSpec | None = None, photo: np.ndarray | None = None,
             photo_name: str | None = None, model_path=None,
             progress: Callable[[int, int], None] | None = None) -> Phantom:
    """Write a phantom exam video (H.264 MP4) and its truth (``<video>.truth.json``).

    Parameters
    ----------
    path : str or Path
        Output video path.
    spec : PhantomSpec, optional
        Gains, order, timing and format; defaults to a symmetric, normal face.
    photo : (H, W, 3) uint8 ndarray, optional
        Base photo (RGB); defaults to scikit-image's astronaut.
    """

    spec = spec or PhantomSpec()
    if photo is None:
        photo, photo_name = astronaut()
    face = load_base_face(photo, photo_name or "user photo", model_path)
    fields = {m: {side: FIELDS[m](face, side) for side in SIDES} for m in MOVEMENTS}
    performances, distractors, duration = full_schedule(spec)
    extra = distractor_fields(face, spec.distractors, spec)
    placement = _placement(face, spec)
    to_photo = geometry.invert_affine(placement)
    anchors = _anchors(face, spec, to_photo)
    face_centre_out = geometry.apply_affine(placement, face.points.mean(axis=0)[None])[0]

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    truth_path = path.with_name(path.name + ".truth.json")
    truth_tmp = truth_path.with_name(truth_path.name + ".partial")
    try:
        truth = _write_phantom(partial, face, spec, performances, duration, fields, placement,
                               anchors, face_centre_out, progress, distractors, extra)
        truth_tmp.write_text(json.dumps(truth, indent=2))
        partial.replace(path)
        truth_tmp.replace(truth_path)
    except BaseException:  # a full disk, Ctrl-C: no partial video is left behind
        partial.unlink(missing_ok=True)
        truth_tmp.unlink(missing_ok=True)
        raise
    return Phantom(path, truth_path, truth)


def _write_phantom(partial: Path, face: BaseFace, spec: PhantomSpec,
                   performances: Sequence[Performance], duration: float,
                   fields: dict[str, dict[str, np.ndarray]], placement: np.ndarray,
                   anchors: np.ndarray, face_centre_out: np.ndarray,
                   progress: Callable[[int, int], None] | None,
                   distractors: Sequence[Distractor] = (),
                   extra: dict[str, np.ndarray] | None = None) -> dict:
    """Render and encode the phantom's frames into ``partial``; returns its truth.

    ``distractors`` and ``extra`` (their fields) are as for :func:`displacement_at`."""
    import av

    rng = np.random.default_rng(spec.seed)
    n_frames = int(round(duration * spec.fps))
    rate = Fraction(spec.fps).limit_denominator(1001)
    with av.open(str(partial), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = spec.size
        stream.pix_fmt = "yuv420p"
        stream.options = dict(X264_OPTIONS)
        stream.codec_context.thread_count = 1  # libavcodec's count, passed on to x264
        for i in range(n_frames):
            t = i / spec.fps
            others, closure = displacement_at(t, performances, spec, fields, distractors, extra)
            sway = _sway(spec, t, face_centre_out)
            output = (np.vstack([sway, [0, 0, 1]]) @ np.vstack([placement, [0, 0, 1]]))[:2]
            rgb = compose_frame(face, others, closure, output, spec, anchors, rng)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
            if progress is not None:
                progress(i + 1, n_frames)
        for packet in stream.encode():
            container.mux(packet)
    truth = exam_truth(face, spec, performances, duration, fields, distractors, extra)
    truth["video_sha256"] = hashlib.sha256(partial.read_bytes()).hexdigest()
    return truth


# --- photos --------------------------------------------------------------------------------------

@dataclass
class PhantomPhoto:
    """A still phantom: the picture and what its face does.

    Attributes
    ----------
    rgb : (H, W, 3) uint8 ndarray
    truth : dict
        ``movement`` (None: at rest), ``gains`` per side, and per side the truth of
        :func:`side_truth` (``left``, ``right``; excursions 0 at rest), ``symmetry_pct`` and
        ``weaker_side`` (None when the sides move alike), mm and %.
    """

    rgb: np.ndarray
    truth: dict


def phantom_photo(face: BaseFace, movement: str | None = None, spec: PhantomSpec | None = None,
                  pose_t: float = 0.0) -> PhantomPhoto:
    """A photo of ``face`` holding ``movement`` at the spec's per-side gains (or at rest).

    The photo is rendered exactly as a phantom video's frame at the movement's peak
    (:func:`compose_frame`), so a series of them differs only by what each says: the gains,
    and the head's placement, taken from the spec's sway at time ``pose_t`` (s), as photos taken
    on different days never frame the face the same way.

    Parameters
    ----------
    face : BaseFace
        The base face (:func:`load_base_face`).
    movement : str or None
        One of :data:`MOVEMENTS`; None for a resting face.
    spec : PhantomSpec, optional
        Gains, size, face size, pixel noise, sway, seed and mirroring; defaults to a symmetric
        normal face.
    pose_t : float
        Where on the spec's sway the head is, s.
    """
    spec = spec or PhantomSpec()
    zeros = np.zeros_like(face.points)
    sides = {side: {"excursion_mm": 0.0} for side in SIDES}
    others, closure = zeros, zeros
    gains = {side: 0.0 for side in SIDES}
    if movement is not None:
        gains = {side: spec.gain(movement, side) for side in SIDES}
        moved = {side: gains[side] * FIELDS[movement](face, side) for side in SIDES}
        sides = {side: side_truth(face, movement, moved[side], side) for side in SIDES}
        total = moved["left"] + moved["right"]
        others, closure = (zeros, total) if movement == "eye_closure" else (total, zeros)
    placement = _placement(face, spec)
    anchors = _anchors(face, spec, geometry.invert_affine(placement))
    centre = geometry.apply_affine(placement, face.points.mean(axis=0)[None])[0]
    sway = _sway(spec, pose_t, centre)
    output = (np.vstack([sway, [0, 0, 1]]) @ np.vstack([placement, [0, 0, 1]]))[:2]
    rgb = compose_frame(face, others, closure, output, spec, anchors,
                        np.random.default_rng(spec.seed))
    left, right = sides["left"]["excursion_mm"], sides["right"]["excursion_mm"]
    stronger = max(abs(left), abs(right))
    truth = {
        "movement": movement, "gains": gains, "left": sides["left"], "right": sides["right"],
        "symmetry_pct": 100 * min(abs(left), abs(right)) / stronger if stronger else 100.0,
        "weaker_side": None if np.isclose(left, right) else ("right" if abs(right) < abs(left)
                                                             else "left"),
        "base_face": face.name, "base_mm_per_px": face.mm_per_px,
    }
    return PhantomPhoto(rgb, truth)
