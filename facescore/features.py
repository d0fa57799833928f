"""Per-frame, per-side positions measured on head-fixed landmarks (pure functions).

All positions are in the head-fixed frame of :func:`facescore.geometry.head_fixed`, in pixels;
the pipeline turns them into millimetres once the video's scale is known. "Lateral" is the
distance from the midline toward the side's own ear, so that left and right values compare
directly.
"""

from __future__ import annotations

import re

import numpy as np

from .anatomy import (
    BROW,
    BROW_INNER,
    EYE_CORNERS,
    LID_CENTRE_PAIRS,
    LIP_INNER,
    MOUTH_CORNER,
    SIDES,
)

#: Position columns (without the ``_left``/``_right`` suffix) and what they mean; px here, mm
#: in the per-frame table.
POSITION_COLUMNS = {
    "brow_height": "mean brow height above the eye corners",
    "brow_inner_lateral": "inner-brow distance from the midline (falls when brows knit)",
    "upper_lid_height": "central upper-lid height above the eye corners",
    "eye_aperture_lm": "palpebral aperture, upper to lower lid at the eye's centre (landmarks)",
    "mouth_corner_lateral": "mouth-corner distance from the midline",
    "mouth_corner_height": "mouth-corner height relative to the nasal midline origin",
}


def lateral_sign(side: str) -> float:
    """+1 for the left side (head-frame X points to the patient's left), −1 for the right."""
    return 1.0 if side == "left" else -1.0


def side_positions(head: np.ndarray, side: str) -> dict[str, float]:
    """Positions of one side's brow, lids and mouth corner.

    Parameters
    ----------
    head : (478, 2 or 3) ndarray
        Head-fixed landmarks (X to the patient's left, Y up), px.
    side : {"left", "right"}

    Returns
    -------
    dict of str to float
        One value per key of :data:`POSITION_COLUMNS`, px.
    """
    x, y = head[:, 0], head[:, 1]
    sign = lateral_sign(side)
    eye_level = y[list(EYE_CORNERS[side])].mean()
    centre_upper = [u for u, _ in LID_CENTRE_PAIRS[side]]
    return {
        "brow_height": float(y[list(BROW[side])].mean() - eye_level),
        "brow_inner_lateral": float(sign * x[list(BROW_INNER[side])].mean()),
        "upper_lid_height": float(y[centre_upper].mean() - eye_level),
        "eye_aperture_lm": float(np.mean([y[u] - y[lo] for u, lo in LID_CENTRE_PAIRS[side]])),
        "mouth_corner_lateral": float(sign * x[MOUTH_CORNER[side]]),
        "mouth_corner_height": float(y[MOUTH_CORNER[side]]),
    }


def positions(head: np.ndarray) -> dict[str, float]:
    """:func:`side_positions` for both sides, keyed ``<name>_<side>``, and the gap between the
    lips (``lip_gap``: inner upper to inner lower lip on the midline, px)."""
    out = {f"{name}_{side}": value for side in SIDES
           for name, value in side_positions(head, side).items()}
    out["lip_gap"] = float(head[LIP_INNER[0], 1] - head[LIP_INNER[1], 1])
    return out


#: MediaPipe Face Landmarker's 52 expression scores (``_neutral`` aside), in the model's order.
#: ``...Left``/``...Right`` name the subject's sides.
BLENDSHAPES: tuple[str, ...] = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight",
    "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft",
    "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
    "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight",
    "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft",
    "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft",
    "noseSneerRight",
)


#: Per region, the blendshapes whose sum says how far that region is from neutral. Used only to
#: tell *when* a region is at rest, never how far it moved.
EXPRESSION_BLENDSHAPES = {
    "brow": ("browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
             "browOuterUpRight"),
    "eye": ("eyeBlinkLeft", "eyeBlinkRight", "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft",
            "eyeWideRight"),
    "mouth": ("mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
              "mouthStretchLeft", "mouthStretchRight", "cheekSquintLeft", "cheekSquintRight",
              "jawOpen", "mouthPucker", "mouthFunnel"),
}


def expression_scores(scores: dict[str, float]) -> dict[str, float]:
    """``expression_<region>``: each region's blendshapes summed (0 = neutral), and
    ``expression_score``, all regions together; NaN without blendshapes.

    Their levels carry the model's biases for this face, but within one recording lower is
    more neutral, which is all they are used for."""
    out = {f"expression_{region}": (float(sum(scores.get(n, 0.0) for n in names)) if scores
                                    else float("nan"))
           for region, names in EXPRESSION_BLENDSHAPES.items()}
    out["expression_score"] = float(sum(out.values()))
    return out


def blendshape_columns(scores: dict[str, float]) -> dict[str, float]:
    """All of MediaPipe's blendshape scores as ``bs_<snake_case_name>`` columns, 0–1.

    ``eyeBlinkLeft`` becomes ``bs_eye_blink_left`` (MediaPipe's ``Left``/``Right`` name the
    subject's sides, as ours do); ``jawOpen`` becomes ``bs_jaw_open``. ``_neutral`` is left
    out. Every name is present, NaN when the model gave no scores, so that the table's columns
    do not depend on whether a face was found.
    """
    return {column: float(scores.get(name, np.nan)) for name, column in _BLENDSHAPE_COLUMNS}


def blendshape_column(name: str) -> str:
    """The table's column for one of MediaPipe's blendshape names (``browInnerUp`` →
    ``bs_brow_inner_up``)."""
    return "bs_" + re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


#: (blendshape, column) pairs, converted once: every frame's row needs all 51 of them.
_BLENDSHAPE_COLUMNS = tuple((name, blendshape_column(name)) for name in BLENDSHAPES)


__all__ = ["POSITION_COLUMNS", "BLENDSHAPES", "EXPRESSION_BLENDSHAPES", "positions",
           "side_positions", "blendshape_columns", "blendshape_column",
           "expression_scores", "lateral_sign"]
