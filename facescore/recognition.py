"""What the face is doing: MediaPipe's expression scores read as a recogniser of movements.

The per-side signals (:mod:`facescore.signals`) say how far each side moved, free of any
left-right prior, but not *what* the movement was: the brows come down in a frown, and also
in a pucker, a nose wrinkle, a squint or a laugh. MediaPipe's 51 expression scores
(blendshapes) come from a model trained to tell such movements apart. They are used here only
to name a performance, never to measure a side: each score is read as its rise above the
clip's own resting level (the model's levels are biased per face: a smiling face at rest reads
``mouthSmile`` 0.9), and a score that has a left and a right is read as the larger of the two,
so that a one-sided movement (a palsy) is recognised as well as a two-sided one.

The rules (:func:`recognise`), in words:

- A mouth opened wide (``jawOpen``), a pucker or "O" mouth, a nose wrinkle, a lower-lip
  depression or a glance (``eyeLook*``) that rises more than the movement's own recogniser,
  and by at least :data:`OTHER_MIN_RISE`, names the performance instead (recognised, not
  scored).
- A smile with the jaw dropped (:data:`SMILE_MAX_JAW_RISE`) is a laugh or an open mouth.
- An eye closure must be seen closing by the recogniser (``eyeBlink`` rises by at least
  :data:`EYE_CLOSURE_MIN_RISE`) and held closed longer than a blink
  (:func:`facescore.segments.held_s`; at 7-17 fps the lid patches may lag a blink by a few
  frames, the recogniser does not): behind glasses, glare and frames move the lid patches
  without the eye closing.

Rules and thresholds were chosen on the shared real clips and the phantoms; the comparison is in
docs/measurement.md.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .protocol import BY_NAME, MOVEMENTS, OTHER

#: Expression classes that are not exam movements of their own, with their recognisers.
NON_EXAM: dict[str, tuple[str, ...]] = {
    "snarl": BY_NAME["snarl"].recogniser,
    "lip_pucker": ("bs_mouth_pucker", "bs_mouth_funnel"),
    "lower_lip_depression": BY_NAME["lower_lip_depression"].recogniser,
    OTHER: ("bs_jaw_open",),  # mouth opened wide: surprise, a yawn, "ah"
    # A glance moves the brows and lids with the eyes (read as the largest of the four).
    "glance": ("bs_eye_look_up", "bs_eye_look_down", "bs_eye_look_in", "bs_eye_look_out"),
}
#: (expression, movement) pairs that go together: an open smile lowers the lower lip, so a
#: lower-lip depression never renames a smile.
COMPATIBLE = {("lower_lip_depression", "smile")}
#: Movements of one signal in opposite directions: a dip of the brows that the recogniser reads
#: as a brow raise (own rise below :data:`PRECURSOR_MAX_RISE`, the other's at least
#: :data:`OTHER_MIN_RISE`) is the raise's preparation or a head nod, not a frown.
OPPOSITE = {"frown": "brow_raise", "brow_raise": "frown"}
PRECURSOR_MAX_RISE = 0.05
#: Classes read as the largest of their recogniser scores rather than the mean.
READ_AS_LARGEST = {"glance"}
#: A smile with the jaw dropped this far (rise of ``jawOpen``) is a laugh or a wide-open mouth,
#: not the exam's smile (an open smile shows the teeth with the jaws nearly closed).
SMILE_MAX_JAW_RISE = 0.35
#: Rise (0-1) above its rest that another expression needs to name a performance.
OTHER_MIN_RISE = 0.2
#: Rise of ``eyeBlink`` (the more closed eye) that an exam eye closure needs.
EYE_CLOSURE_MIN_RISE = 0.1
#: The clip's resting level of a score: its running median over this span, s.
REST_WINDOW_S = 30.0


def _score(frames: pd.DataFrame, column: str) -> np.ndarray:
    """One recogniser column; a left/right pair is read as the larger of its two sides."""
    if column in frames:
        return frames[column].to_numpy(dtype=float)
    pair = [f"{column}_{side}" for side in ("left", "right")]
    if all(name in frames for name in pair):
        return np.fmax(*(frames[name].to_numpy(dtype=float) for name in pair))
    return np.full(len(frames), np.nan)


def class_scores(frames: pd.DataFrame) -> pd.DataFrame:
    """Per frame, each expression class's recogniser score as the model gives it, 0-1.

    Columns as :func:`evidence`; a class with several recogniser scores reads their mean (the
    largest for :data:`READ_AS_LARGEST`); NaN without scores.
    """
    classes = {m: BY_NAME[m].recogniser for m in MOVEMENTS} | NON_EXAM
    out = {}
    for name, columns in classes.items():
        scores = np.vstack([_score(frames, c) for c in columns])
        with warnings.catch_warnings():  # frames without a face: all-NaN columns
            warnings.simplefilter("ignore", RuntimeWarning)
            # The largest look score, not each one's own rise: closing the eyes raises
            # eyeLookDown as much as eyeBlink on a warped closure, and that must not make
            # every eye closure a glance (measured: the phantom closure behind glasses).
            out[name] = (np.nanmax(scores, axis=0) if name in READ_AS_LARGEST
                         else np.nanmean(scores, axis=0))
    return pd.DataFrame(out, index=frames.index)


def evidence(frames: pd.DataFrame) -> pd.DataFrame:
    """Per frame, how far each expression class's recogniser rose above the clip's rest, 0-1.

    Columns: the measured movements (:data:`facescore.protocol.MOVEMENTS`) and the classes of
    :data:`NON_EXAM`. A class with several recogniser scores reads their mean.
    """
    from .segments import resting_level  # segments builds on this module

    t = frames["t_s"].to_numpy(dtype=float)
    out = {}
    for name, values in class_scores(frames).items():
        score = values.to_numpy(dtype=float)
        if not np.isfinite(score).any():
            out[name] = score
            continue
        rest = resting_level(score, t, REST_WINDOW_S)
        out[name] = score - np.where(np.isfinite(rest), rest, 0.0)
    return pd.DataFrame(out, index=frames.index)


def peak_evidence(rises: pd.DataFrame, start: int, stop: int, hold_frames: int = 1
                  ) -> dict[str, float]:
    """Each class's rise during frames [start, stop), held: the level it reached in at least
    ``hold_frames`` frames (a blink's four frames of ``eyeLookDown`` must not outrank a brow
    raise held for a second); NaN where the scores are missing."""
    part = rises.iloc[start:stop]
    out = {}
    for name, values in part.items():
        finite = np.sort(values.to_numpy()[np.isfinite(values.to_numpy())])[::-1]
        out[name] = (float(finite[min(hold_frames, len(finite)) - 1]) if len(finite)
                     else float("nan"))
    return out


def recognise(movement: str, peaks: dict[str, float]) -> str | None:
    """Name a performance found by the per-side signals as ``movement``.

    Returns
    -------
    str or None
        ``movement`` when the recogniser agrees or has nothing to say; another class of
        :data:`NON_EXAM` when that expression dominates; None when it is not the movement at
        all (an eye closure the eyes did not make). Without expression scores (NaN) the
        per-side signals' label stands.
    """
    own = peaks.get(movement, float("nan"))
    if not np.isfinite(own):
        return movement
    others = {k: v for k, v in peaks.items() if k in NON_EXAM and np.isfinite(v)
              and (k, movement) not in COMPATIBLE}
    if others:
        name, rise = max(others.items(), key=lambda item: item[1])
        if rise >= OTHER_MIN_RISE and rise > own:
            return name
    if movement == "smile" and peaks.get(OTHER, 0.0) >= SMILE_MAX_JAW_RISE:
        return OTHER
    if movement == "eye_closure" and own < EYE_CLOSURE_MIN_RISE:
        return None
    opposite = OPPOSITE.get(movement)
    if opposite and own < PRECURSOR_MAX_RISE and peaks.get(opposite, 0.0) >= OTHER_MIN_RISE:
        return None  # the brows dipping before a raise (or rising before a frown)
    return movement



#: A photo has no rest of its own to compare with: an expression is read from the scores'
#: absolute levels, each above this (MediaPipe's scores of a neutral face stay below ~0.3;
#: scikit-image's smiling astronaut reads ``mouthSmile`` 0.9).
PHOTO_LEVELS: dict[str, tuple[tuple[str, ...], float]] = {
    "smile": (("bs_mouth_smile",), 0.5),
    "brow_raise": (("bs_brow_inner_up", "bs_brow_outer_up"), 0.5),
    "eye_closure": (("bs_eye_blink",), 0.5),
    "frown": (("bs_brow_down",), 0.5),
    "lip_pucker": (("bs_mouth_pucker",), 0.5),
    "snarl": (("bs_nose_sneer",), 0.5),
    OTHER: (("bs_jaw_open",), 0.4),
}


def photo_expression(frames: pd.DataFrame) -> list[str]:
    """What a photo's face shows, from the expression scores' levels (empty: at rest).

    Scores that have a left and a right are read as the larger of the two (a one-sided smile
    is a smile)."""
    if not len(frames):
        return []
    row = frames.iloc[[0]]
    shown = []
    for name, (columns, level) in PHOTO_LEVELS.items():
        values = [float(_score(row, c)[0]) for c in columns]
        values = [v for v in values if np.isfinite(v)]
        if values and max(values) >= level:
            shown.append(name)
    return shown
