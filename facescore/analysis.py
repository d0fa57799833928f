"""One consult video → movements found, each side scored: the ``analyze`` API.

:func:`analyze` runs the measurement pipeline, finds rest and the movements (or reads them from
a sidecar), scores every performance, and derives rest asymmetry, synkinesis and summary
estimates. The report modules consume the :class:`Analysis` it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__, model, recognition, uncertainty
from .anatomy import SIDES
from .errors import FaceError, SourceError
from .pipeline import MIN_IOD_PX, Measurement, measure_video
from .protocol import MOVEMENTS, a_name
from .rest import rest_measures
from .scales import summary_estimates
from .scores import DEADBAND_TEXT, NOISE_ASSUMED_FLAG, PerformanceScore, score_performance
from .segments import (
    Blink,
    Detector,
    Segment,
    activity,
    blink_summary,
    detect_blinks,
    detect_events,
    read_sidecar,
    side_events,
)
from .synkinesis import synkinesis_measures

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
    #: Expressions that are not exam movements (pucker, nose wrinkle, open mouth, glance…) and
    #: movements too small to stand out of the recording's noise: listed, never scored.
    others: list[Segment] = field(default_factory=list)
    #: Each measured movement's resting-travel SD per side in this recording, mm.
    noise: dict = field(default_factory=dict)

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
    masked = _masked_regions(q.get("masked_frames", {}), int(frames["face_found"].sum()))
    if masked:
        warnings.append(f"measure masked (hand, hair, glare, blur or a turned head) in this "
                        f"share of the frames with a face: {masked}")
    return warnings


#: A region's measure masked in at least this share of the frames with a face is reported.
MASKED_WARN_SHARE = 0.05


def _masked_regions(masked_frames: dict[str, int], frames_with_face: int) -> str:
    """Regions masked in at least :data:`MASKED_WARN_SHARE` of the frames with a face, both
    sides of a region together: "eye left 62 %, right 60 %; mouth right 6 %" ("" if none)."""
    found = max(frames_with_face, 1)
    by_region: dict[str, list[str]] = {}
    for region_side, n in masked_frames.items():
        if n / found >= MASKED_WARN_SHARE:
            region, side = region_side.rsplit("_", 1)
            by_region.setdefault(region.replace("_", " "), []).append(
                f"{side} {100 * n / found:.0f} %")
    return "; ".join(f"{region} {', '.join(sides)}" for region, sides in by_region.items())


def analyze(path: str | Path, mirrored: bool = False, segments: str | Path | None = None,
            progress: Callable[[int, int | None], None] | None = None,
            model_path: str | Path | None = None,
            detector: Detector | None = None, key_frames: bool | None = None,
            on_measured: Callable[[Measurement], None] | None = None) -> Analysis:
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
    key_frames : bool or None
        The landmark model on key frames or on every frame (see
        :func:`facescore.pipeline.measure_video`; default key frames).
    on_measured : callable, optional
        ``on_measured(measurement)``, called once the frames are measured, before the
        analysis (the command starts its report's key-frame reader there).

    Raises
    ------
    SourceError, FaceError
        When the video cannot be measured (see :func:`check_quality`).
    """
    detector = detector or Detector()
    sidecar = read_sidecar(segments) if segments is not None else None
    measurement = measure_video(path, mirrored=mirrored, progress=progress,
                                model_path=model_path, key_frames=key_frames)
    if on_measured is not None:
        on_measured(measurement)
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
    # Each side's departures from rest: the movements' candidates and, all of them, where the
    # face was not at rest for the noise.
    departures = side_events(frames, detector)
    if segments is not None:
        found, others = segments, []
    else:
        found, others = detect_events(frames, detector, departures)
    blinks: list[Blink] = []
    rest = rest_measures(frames, found)
    fissure = {side: rest["palpebral_fissure"][side] for side in SIDES}
    if measurement.info.kind != "image":
        blinks = detect_blinks(frames, fissure, detector)
    busy = [(s.onset, s.end) for s in (*found, *others)]
    busy += [(b.onset_s, b.onset_s + b.duration_s) for b in blinks]
    noise = _resting_noise(frames, busy, activity(frames, detector, departures))
    blinks = _trusted_completeness(blinks, frames, noise, warnings)
    blink_times = tuple((b.onset_s, b.onset_s + b.duration_s) for b in blinks)
    performances = [score_performance(frames, s.label, s.rep, s.onset, s.end, s.sides, s.flags,
                                      s.scored, noise[s.label], blink_times) for s in found]
    if segments is None:  # movements given by hand are scored whatever their size
        found, performances, faint = _standing_out(found, performances)
        others = sorted([*others, *faint], key=lambda s: s.onset)
        rest = rest_measures(frames, found)
    if measurement.info.kind == "image":
        # A photo's "rest" is whatever the face shows: say so when it is not at rest.
        rest["expression"] = recognition.photo_expression(frames)
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
            "noise_lag_s": uncertainty.NOISE_LAG_S,
        },
        blinks=blinks,
        blink_summary=blink_summary(blinks, duration),
        others=others,
        noise=noise,
    )


#: Below this frame rate a blink's closed moment falls between frames: completeness is not read.
MIN_BLINK_COMPLETENESS_FPS = 12.0


def _trusted_completeness(blinks: list[Blink], frames: pd.DataFrame, noise: dict,
                          warnings: list[str]) -> list[Blink]:
    """Blinks with each eye's completeness kept only where it can be read: at a frame rate
    that catches the closed moment, and on an eye whose lid measure is not too noisy (a
    healthy person behind glasses at 7.7 fps read 60 % left and 30 % right)."""
    if not blinks:
        return blinks
    from .scores import NOISY_SHARE, TYPICAL_MM

    step = float(np.median(np.diff(frames["t_s"]))) if len(frames) > 1 else 0.0
    fps = 1.0 / step if step > 0 else 0.0
    unread = set()
    if fps < MIN_BLINK_COMPLETENESS_FPS:
        unread = set(SIDES)
        warnings.append(f"at {fps:.0f} fps a blink's closed moment falls between frames: blink "
                        "completeness is not measured (blinks are counted)")
    else:
        limit = NOISY_SHARE * TYPICAL_MM["eye_closure"]
        for side in SIDES:
            sd = noise.get("eye_closure", {}).get(side, float("nan"))
            if np.isfinite(sd) and sd > limit:
                unread.add(side)
                warnings.append(f"{side} eye: blink completeness not measured (the lid "
                                f"measure's resting noise, {sd:.1f} mm, is too large)")
    if not unread:
        return blinks
    return [replace(b, completeness={k: None if k in unread else v
                                     for k, v in b.completeness.items()})
            for b in blinks]


#: Share of the frames with a face left quiet (away from events and from every stretch where
#: any signal left rest) up to which a recording counts as busy throughout, and from which its
#: quiet frames alone give its noise (:func:`facescore.uncertainty.quiet_weight`).
QUIET_SHARE_RANGE = (0.25, 0.5)


def _resting_noise(frames: pd.DataFrame, busy: list[tuple[float, float]],
                   active: list[tuple[float, float]]) -> dict[str, dict[str, float]]:
    """Resting noise per movement and side, mm, blended by how much of the clip is quiet.

    ``busy``: the reported events (movements, other expressions, blinks); ``active``: every
    stretch where a signal left rest (:func:`facescore.segments.activity`), s.

    A movement the detector missed is movement, not noise: noise is measured away from every
    stretch where a signal left rest. But in a recording busy throughout (acted emotions,
    talking) those few quiet frames are its stillest moments, not its ordinary state: there its
    movement *is* its noise, measured away from the reported events only. Between the two the
    estimate moves continuously with the quiet share (a cliff here once flipped a healthy
    clip's eye closure between faint and scored under one grey level of dither).
    """
    events_only = uncertainty.quiet_frames(frames, busy)
    quiet = events_only & uncertainty.quiet_frames(frames, active)
    share = quiet.sum() / max(int(frames["face_found"].sum()), 1)
    weight = uncertainty.quiet_weight(share, *QUIET_SHARE_RANGE)
    if weight == 1.0:
        return uncertainty.noise_table(frames, quiet, MOVEMENTS)
    if weight == 0.0:
        return uncertainty.noise_table(frames, events_only, MOVEMENTS)
    return uncertainty.blend_noise(uncertainty.noise_table(frames, quiet, MOVEMENTS),
                                   uncertainty.noise_table(frames, events_only, MOVEMENTS),
                                   weight)
#: A detected movement must move its stronger side this many times that side's resting-travel
#: SD (:mod:`facescore.uncertainty`): a smaller one cannot be told from the recording's noise.
STAND_OUT_SD = 4.0
FAINT = "faint_movement"


def _standing_out(found: list[Segment], performances: list[PerformanceScore]
                  ) -> tuple[list[Segment], list[PerformanceScore], list[Segment]]:
    """Keep the performances whose stronger side stands out of its noise; renumber them.

    Returns the kept segments and scores, and the faint ones relabelled :data:`FAINT`."""
    kept_segments, kept_scores, faint = [], [], []
    reps = dict.fromkeys(MOVEMENTS, 0)
    for segment, score in zip(found, performances, strict=True):
        sides = [score.left, score.right]
        strongest = max(sides, key=lambda s: s.excursion_mm if np.isfinite(s.excursion_mm)
                        else -np.inf)
        measured_noise = NOISE_ASSUMED_FLAG not in score.flags  # else: cannot tell, keep it
        if measured_noise and not (np.isfinite(strongest.excursion_mm)
                                   and strongest.excursion_mm >= STAND_OUT_SD
                                   * strongest.noise_mm):
            faint.append(segment)
            continue
        reps[segment.label] += 1
        kept_segments.append(replace(segment, rep=reps[segment.label]))
        kept_scores.append(replace(score, rep=reps[segment.label]))
    return kept_segments, kept_scores, _faint_events(faint)


def _faint_events(segments: list[Segment]) -> list[Segment]:
    """Faint movements as :data:`FAINT` events, those overlapping in time merged into one (a
    faint smile and a faint brow raise at once are one faint movement of the face)."""
    groups: list[list[Segment]] = []
    for segment in sorted(segments, key=lambda s: s.onset):
        if groups and segment.onset <= max(s.end for s in groups[-1]):
            groups[-1].append(segment)
        else:
            groups.append([segment])
    events = []
    for group in groups:
        onset, end = min(s.onset for s in group), max(s.end for s in group)
        names = " and ".join(dict.fromkeys(a_name(s.label) for s in group))
        sides = {s.sides for s in group}
        events.append(Segment(onset, end - onset, FAINT, source="recognised",
                              sides=sides.pop() if len(sides) == 1 else "both", scored=False,
                              flags=(f"{names} within the recording's own noise",)))
    return events
