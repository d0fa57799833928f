"""One consult video → movements found, each side scored: the ``analyze`` API.

:func:`analyze` runs the measurement pipeline, finds rest and the movements (or reads them from
a sidecar), scores every performance, and derives rest asymmetry, synkinesis and summary
estimates. The report modules consume the :class:`Analysis` it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__, model
from .anatomy import SIDES
from .errors import FaceError, SourceError
from .pipeline import MIN_IOD_PX, Measurement, measure_video
from .scores import DEADBAND_TEXT, PerformanceScore, score_performance, weaker_side
from .segments import (
    MOVEMENTS,
    TALKING_FLAG,
    Blink,
    Detector,
    Segment,
    blink_summary,
    detect_blinks,
    detect_movements,
    read_sidecar,
    rest_mask,
)

DISCLAIMER = ("facescore is a measurement aid, not a diagnostic device. Its measurements and "
              "scale estimates are not validated against clinical grading and must not be used "
              "on their own to diagnose or grade facial palsy.")

#: Below these shares of frames the video cannot be analysed.
MIN_FACE_FRACTION = 0.5
MIN_POSE_FRACTION = 0.5
MIN_DURATION_S = 1.0
#: Head turning through more than this (5th to 95th percentile of yaw or pitch, deg) is
#: warned about: the exam is measured best with the head still.
HEAD_MOTION_WARN_DEG = 12.0


@dataclass
class Analysis:
    """Everything ``facescore analyze`` reports."""

    measurement: Measurement
    segments: list[Segment]
    performances: list[PerformanceScore]
    rest: dict
    synkinesis: dict
    summary: dict
    not_performed: list[str]
    parameters: dict = field(default_factory=dict)
    blinks: list[Blink] = field(default_factory=list)
    blink_summary: dict = field(default_factory=dict)

    @property
    def frames(self) -> pd.DataFrame:
        return self.measurement.frames


def check_quality(measurement: Measurement) -> list[str]:
    """Refuse recordings that cannot be measured; return warnings for the ones that can.

    Raises
    ------
    SourceError
        The video is too short.
    FaceError
        The face is lost, too small or turned away in most frames.
    """
    frames, q, info = measurement.frames, measurement.quality, measurement.info
    duration = float(frames["t_s"].iloc[-1]) if len(frames) else 0.0
    damage = getattr(info, "damage", None)
    if info.kind == "video" and (len(frames) < 10 or duration < MIN_DURATION_S):
        readable = "readable part" if damage else "video"
        detail = f"{damage['description']}; " if damage else ""
        raise SourceError(f"{detail}{readable} too short to analyse ({len(frames)} "
                          f"frame{'s' if len(frames) != 1 else ''}, {duration:.2f} s; need at "
                          f"least {MIN_DURATION_S:g} s)")
    if q["face_found_fraction"] < MIN_FACE_FRACTION:
        raise FaceError(f"face lost in {100 * (1 - q['face_found_fraction']):.0f} % of frames "
                        f"(need a face in at least {100 * MIN_FACE_FRACTION:.0f} %)")
    if q["small_face"]:
        raise FaceError(f"face too small: {q['median_iod_px']:.0f} px between the eyes "
                        f"(need at least {MIN_IOD_PX:.0f}); film closer or at higher resolution")
    if q["pose_ok_fraction"] < MIN_POSE_FRACTION:
        raise FaceError(f"face turned too far from the camera in "
                        f"{100 * (1 - q['pose_ok_fraction']):.0f} % of frames")
    warnings = []
    if damage:
        warnings.append(f"{damage['description']}; only the readable {len(frames)} frames "
                        f"({duration:.1f} s) were analysed")
    if q["max_faces_seen"] > 1:
        warnings.append(f"{q['max_faces_seen']} faces in view; the largest, most central one "
                        "was measured")
    if q["face_found_fraction"] < 0.95:
        warnings.append(f"no face in {100 * (1 - q['face_found_fraction']):.1f} % of frames")
    if q["pose_ok_fraction"] < 0.95:
        warnings.append(f"head turned beyond limits in {100 * (1 - q['pose_ok_fraction']):.1f} "
                        "% of frames")
    if {"yaw_deg", "pitch_deg"} <= set(frames.columns) and info.kind != "image":
        pose = frames.loc[frames["face_found"].astype(bool), ["yaw_deg", "pitch_deg"]]
        spread = float(np.nanmax(np.nanpercentile(pose, 95, axis=0)
                                 - np.nanpercentile(pose, 5, axis=0))) if len(pose) else 0.0
        if spread > HEAD_MOTION_WARN_DEG:
            warnings.append(f"the head turned through {spread:.0f}° during the recording: "
                            "movements made while it turned are flagged, and the measure is "
                            "most reliable with the head held still")
    found = max(int(frames["face_found"].sum()), 1)
    for region_side, n in q.get("masked_frames", {}).items():
        share = n / found
        if share >= 0.05:
            region, side = region_side.rsplit("_", 1)
            warnings.append(f"{side} {region.replace('_', ' ')}: measure masked in "
                            f"{100 * share:.0f} % of frames with a face (hand, hair, glare, blur "
                            "or a turned head)")
    return warnings


def rest_measures(frames: pd.DataFrame, movements: list[Segment]) -> dict:
    """Resting brow height, palpebral fissure and mouth-corner height per side, mm."""
    at_rest = rest_mask(frames, movements)
    out: dict = {"n_frames": int(at_rest.sum())}
    names = {"brow_height": "brow_height_mm", "palpebral_fissure": "eye_aperture_lm_mm",
             "mouth_corner_height": "mouth_corner_height_mm"}
    for name, column in names.items():
        values = {side: float(np.nanmedian(frames.loc[at_rest, f"{column}_{side}"]))
                  if at_rest.any() else None for side in SIDES}
        difference = (values["left"] - values["right"]
                      if None not in values.values() else None)
        out[name] = {**values, "left_minus_right_mm": difference}
    return out


def _travel_during(frames: pd.DataFrame, segment: Segment, columns: list[str]) -> float:
    t = frames["t_s"].to_numpy()
    during = (t >= segment.onset) & (t <= segment.end)
    before = (t >= segment.onset - 0.4) & (t <= segment.onset)
    if not during.any():
        return float("nan")
    values = frames[columns].to_numpy(dtype=float)
    reference = values[before if before.any() else during]
    if not np.isfinite(reference).any(axis=0).all():
        return float("nan")  # a region masked throughout: no travel to report
    travel = np.abs(values[during] - np.nanmedian(reference, axis=0)).sum(axis=1)
    travel = travel[np.isfinite(travel)]
    return float(travel.max()) if len(travel) else float("nan")


def synkinesis_measures(frames: pd.DataFrame, movements: list[Segment], rest: dict) -> dict:
    """Involuntary movement of one region during another's movement, per side.

    ``eye_narrowing_during_smile``: how far the lids close during smiles, mm and % of the
    resting fissure. ``mouth_during_eye_closure``: mouth-corner travel during eye closures, mm.
    """
    out: dict = {}
    smiles = [s for s in movements if s.label == "smile"]
    closures = [s for s in movements if s.label == "eye_closure"]
    for side in SIDES:
        fissure = rest["palpebral_fissure"][side]
        narrowing = [_travel_during(frames, s, [f"lid_drop_mm_{side}",
                                                f"lower_lid_rise_mm_{side}"]) for s in smiles]
        mouth = [float(np.hypot(*[_travel_during(frames, s, [f"{c}_mm_{side}"])
                                  for c in ("mouth_out", "mouth_up")])) for s in closures]
        narrow_mm = float(np.nanmedian(narrowing)) if narrowing else None
        out[side] = {
            "eye_narrowing_during_smile_mm": narrow_mm,
            "eye_narrowing_during_smile_pct": (100 * narrow_mm / fissure
                                               if narrow_mm is not None and fissure else None),
            "mouth_during_eye_closure_mm": float(np.nanmedian(mouth)) if mouth else None,
        }
    return out


def _ratio_score(ratio: float) -> float:
    """eFACE-style item score: 100 at equal movement, falling as the ratio departs from 1."""
    return float(np.clip(100 - abs(100 - 100 * ratio), 0, 100))


def _sunnybrook_item(ratio: float) -> int:
    """1 (unable) … 5 (complete), from the affected/healthy movement ratio."""
    for limit, score in ((0.1, 1), (0.35, 2), (0.65, 3), (0.9, 4)):
        if ratio < limit:
            return score
    return 5


def _house_brackmann(points: int) -> str:
    grades = {8: "I", 7: "II", 6: "III", 5: "III", 4: "IV", 3: "IV", 2: "V", 1: "V", 0: "VI"}
    return grades[int(points)]


def summary_estimates(performances: list[PerformanceScore], rest: dict) -> dict:
    """Overall symmetry and unvalidated estimates in the style of eFACE, Sunnybrook and
    House-Brackmann (measurement method), from the per-movement medians."""
    by_movement: dict[str, dict] = {}
    for movement in MOVEMENTS:
        reps = [p for p in performances if p.movement == movement]
        if not reps:
            continue
        # Movements made while talking are listed but do not count toward the summary: an
        # exam movement is made on request, not in passing.
        scored = [p for p in reps if p.scored and TALKING_FLAG not in p.flags]
        lefts = [p.left.excursion_mm for p in scored]
        rights = [p.right.excursion_mm for p in scored]
        symmetries = [p.symmetry_pct for p in scored if p.symmetry_pct is not None]
        left = float(np.nanmedian(lefts)) if lefts else float("nan")
        right = float(np.nanmedian(rights)) if rights else float("nan")
        by_movement[movement] = {
            "repetitions": len(reps),
            "scored_repetitions": len(scored),
            "left": left, "right": right,
            "symmetry_pct": float(np.median(symmetries)) if symmetries else None,
            "weaker_side": weaker_side(left, right) if symmetries else None,
            # Spread over repetitions: max − min (0 for a single performance).
            "left_spread_mm": float(np.nanmax(lefts) - np.nanmin(lefts)) if lefts else None,
            "right_spread_mm": float(np.nanmax(rights) - np.nanmin(rights)) if rights else None,
            "symmetry_spread_pct": (float(max(symmetries) - min(symmetries)) if symmetries
                                    else None),
        }
    if not by_movement:
        return {"overall_symmetry": None, "affected_side": None, "estimates": {},
                "note": "no movement was performed"}
    compared = {k: m for k, m in by_movement.items() if m["symmetry_pct"] is not None}
    if not compared:
        return {"overall_symmetry": None, "affected_side": None, "per_movement": by_movement,
                "estimates": {}, "note": "no movement was large enough to compare the sides"}
    totals = {side: sum(m[side] for m in compared.values()) for side in SIDES}
    affected = "left" if totals["left"] < totals["right"] else "right"
    healthy = "right" if affected == "left" else "left"

    def ratio(movement: str) -> float | None:
        m = compared.get(movement)
        if m is None or m[healthy] <= 0:
            return None
        value = max(m[affected], 0.0) / m[healthy]
        if movement == "eye_closure":  # closure as a share of each eye's resting fissure
            fissure = rest["palpebral_fissure"]
            if fissure[affected] and fissure[healthy]:
                value = (max(m[affected], 0) / fissure[affected]) / (m[healthy] / fissure[healthy])
        return float(value)

    items = {"brow_raise": ratio("brow_raise"), "gentle_eye_closure": ratio("eye_closure"),
             "smile": ratio("smile")}
    measured = {k: v for k, v in items.items() if v is not None}
    efface = {k: _ratio_score(v) for k, v in measured.items()}
    sunnybrook = {k: _sunnybrook_item(v) for k, v in measured.items()}
    estimates = {
        "efface_dynamic": {
            "items": efface,
            "mean": float(np.mean(list(efface.values()))) if efface else None,
            "label": "unvalidated estimate in the style of eFACE dynamic items (100 = normal)",
        },
        "sunnybrook_voluntary": {
            "items": sunnybrook,
            "score": 4 * sum(sunnybrook.values()) if sunnybrook else None,
            "items_measured": f"{len(sunnybrook)} of 5 (snarl and lip pucker are not measured)",
            "label": "unvalidated partial estimate of Sunnybrook voluntary movement "
                     "(4 × sum of items scored 1-5)",
        },
    }
    if "brow_raise" in compared and "smile" in compared:
        brow = compared["brow_raise"][affected]
        mouth = compared["smile"][affected]
        points = min(4, int(max(brow, 0) // 2.5)) + min(4, int(max(mouth, 0) // 2.5))
        estimates["house_brackmann"] = {
            "points": points, "grade": _house_brackmann(points),
            "label": "unvalidated estimate by the House-Brackmann measurement method (1 point "
                     "per 2.5 mm of affected-side brow and mouth-corner travel, max 8)",
        }
    return {
        "overall_symmetry": float(np.mean([m["symmetry_pct"] for m in compared.values()])),
        "affected_side": affected if min(m["symmetry_pct"] for m in compared.values()) < 88
        else None,
        "per_movement": by_movement,
        "estimates": estimates,
    }


def analyze(path: str | Path, mirrored: bool = False, segments: str | Path | None = None,
            progress: Callable[[int, int | None], None] | None = None,
            model_path: str | Path | None = None,
            detector: Detector | None = None) -> Analysis:
    """Measure a consult video of the facial-nerve exam.

    Parameters
    ----------
    path : str or Path
        Video file.
    mirrored : bool
        The recording is a mirror image (webcam preview).
    segments : str or Path, optional
        Sidecar CSV/JSON of (start, end, movement) that replaces movement detection.
    progress : callable, optional
        ``progress(frames_done, frames_expected_or_None)``.

    Raises
    ------
    SourceError, FaceError
        When the video cannot be measured (see :func:`check_quality`).
    """
    detector = detector or Detector()
    sidecar = read_sidecar(segments) if segments is not None else None
    measurement = measure_video(path, mirrored=mirrored, progress=progress,
                                model_path=model_path)
    source = f"sidecar {segments}" if sidecar is not None else "detected"
    return analyze_measurement(measurement, sidecar, detector, segments_source=source)


def analyze_measurement(measurement: Measurement, segments: list[Segment] | None = None,
                        detector: Detector | None = None,
                        segments_source: str = "detected") -> Analysis:
    """Score a measured recording: movements from ``segments`` when given (a sidecar, or the
    prompts of a guided session), else detected.

    Raises
    ------
    SourceError, FaceError
        When the recording cannot be measured (see :func:`check_quality`).
    """
    detector = detector or Detector()
    warnings = check_quality(measurement)
    measurement.quality["warnings"] = warnings
    frames = measurement.frames
    found = segments if segments is not None else detect_movements(frames, detector)
    performances = [score_performance(frames, s.label, s.rep, s.onset, s.end, s.sides, s.flags,
                                      s.scored) for s in found]
    rest = rest_measures(frames, found)
    fissure = {side: rest["palpebral_fissure"][side] for side in SIDES}
    blinks = detect_blinks(frames, fissure, detector) if measurement.info.kind != "image" else []
    duration = float(frames["t_s"].iloc[-1] - frames["t_s"].iloc[0]) if len(frames) > 1 else 0.0
    return Analysis(
        measurement=measurement,
        segments=found,
        performances=performances,
        rest=rest,
        synkinesis=synkinesis_measures(frames, found, rest),
        summary=summary_estimates(performances, rest),
        # A photo shows rest only: no movement could have been performed in it.
        not_performed=[] if measurement.info.kind == "image"
        else [m for m in MOVEMENTS if not any(s.label == m for s in found)],
        parameters={
            "facescore_version": __version__,
            "model_sha256": model.MODEL_SHA256,
            "mirrored": measurement.info.mirrored,
            "segments": segments_source,
            "detector": dict(vars(detector)),
            "deadband": DEADBAND_TEXT,
        },
        blinks=blinks,
        blink_summary=blink_summary(blinks, duration),
    )
