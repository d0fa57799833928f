"""The report as data: the dict written to report.json, described by report.schema.json."""

from __future__ import annotations

import functools
import json
import math
from dataclasses import asdict
from pathlib import Path

from ..analysis import DISCLAIMER, Analysis
from ..display import path_text
from ..features import POSITION_COLUMNS
from ..scores import DEADBAND_TEXT

SCHEMA_VERSION = "1.3"
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")


def _clean(value):
    """JSON-safe: NaN and infinities become null, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


#: What each rest measure is measured from (its per-frame column in ``features``), and how a
#: reader finds its zero.
REST_REFERENCES = {
    "brow_height": POSITION_COLUMNS["brow_height"],
    "palpebral_fissure": POSITION_COLUMNS["eye_aperture_lm"],
    "mouth_corner_height": POSITION_COLUMNS["mouth_corner_height"]
    + " (the middle of the nasal ridge, the head frame's origin; negative: below it)",
}


def _rest(analysis: Analysis) -> dict:
    """The rest measures, each with the reference it is measured from."""
    rest = dict(analysis.rest)
    for name, reference in REST_REFERENCES.items():
        if isinstance(rest.get(name), dict):
            rest[name] = {**rest[name], "reference": reference}
    rest["basis"] = ("the photo as taken" if analysis.measurement.info.kind == "image"
                     else f"median over the {rest.get('n_frames', 0)} frames at rest")
    return rest


def _flagged(analysis: Analysis) -> list[dict]:
    frames = analysis.frames
    reasons = []
    lost = frames.index[~frames["face_found"].astype(bool)]
    if len(lost):
        reasons.append({"reason": "no face", "n_frames": int(len(lost)),
                        "first_s": float(frames.loc[lost[0], "t_s"])})
    if "pose_ok" in frames:
        turned = frames.index[frames["face_found"].astype(bool)
                              & ~frames["pose_ok"].fillna(False).astype(bool)]
        if len(turned):
            reasons.append({"reason": "head turned beyond limits", "n_frames": int(len(turned)),
                            "first_s": float(frames.loc[turned[0], "t_s"])})
    return reasons


def report_dict(analysis: Analysis, input_path: str | Path) -> dict:
    """The whole report as plain data (see ``report.schema.json``)."""
    m = analysis.measurement
    info = m.info
    frames = analysis.frames
    movements = []
    for p in analysis.performances:
        movements.append({
            "movement": p.movement, "rep": p.rep,
            "start_s": p.start_s, "peak_s": p.peak_s, "end_s": p.end_s,
            "left": asdict(p.left), "right": asdict(p.right),
            "symmetry_pct": p.symmetry_pct, "weaker_side": p.weaker_side,
            "side_call": p.side_call,
            "symmetry_low_pct": p.symmetry_low_pct, "symmetry_high_pct": p.symmetry_high_pct,
            "onset_lag_s": p.onset_lag_s, "sides": p.sides, "flags": list(p.flags),
            "scored": p.scored,
        })
    report = {
        "schema_version": SCHEMA_VERSION,
        "input": {
            "path": path_text(input_path), "kind": info.kind, "fps": info.fps,
            "n_frames": int(len(frames)),
            "duration_s": float(frames["t_s"].iloc[-1]) if len(frames) else 0.0,
            "width": info.width, "height": info.height, "rotation_deg": info.rotation_deg,
            "mirrored": info.mirrored, "damage": getattr(info, "damage", None),
        },
        "quality": {
            "face_found_fraction": m.quality["face_found_fraction"],
            "pose_ok_fraction": m.quality["pose_ok_fraction"],
            "max_faces_seen": m.quality["max_faces_seen"],
            "median_iod_px": m.quality["median_iod_px"],
            "landmark_model_share": m.quality.get("landmark_model_share"),
            "flagged_frames": _flagged(analysis),
            "warnings": m.quality.get("warnings", []),
        },
        "calibration": {"mm_per_px": m.calibration.mm_per_px,
                        "iris_diameter_px": m.calibration.iris_diameter_px,
                        "method": m.calibration.method},
        "sides": "anatomical: left and right are the patient's own",
        "deadband": DEADBAND_TEXT,
        "rest": _rest(analysis),
        "movements": movements,
        "blinks": {"summary": analysis.blink_summary,
                   "events": [{"onset_s": b.onset_s, "duration_s": b.duration_s,
                               "completeness": b.completeness, "peak_s": b.peak_s,
                               "lag_s": b.lag_s} for b in analysis.blinks]},
        "not_performed": analysis.not_performed,
        "other_expressions": [{"label": o.label, "onset_s": o.onset, "end_s": o.end,
                               "sides": o.sides, "note": "; ".join(o.flags)}
                              for o in analysis.others],
        "noise": {"resting_travel_sd_mm": analysis.noise,
                  "method": "per movement signal and side: robust SD of each side's travel "
                            f"over {analysis.parameters.get('noise_lag_s', 1.0):g} s while the "
                            "face rested (no movement, expression or blink near)"},
        "synkinesis": analysis.synkinesis,
        "summary": analysis.summary,
        "provenance": analysis.parameters,
        "disclaimer": DISCLAIMER,
    }
    return _clean(report)


@functools.cache
def _validator():
    """The schema's validator, the schema itself checked once (``jsonschema.validate`` checks
    it again on every call, which costs more than checking a report)."""
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_report(report: dict) -> None:
    """Raise ``jsonschema.ValidationError`` when the report does not match its schema (the
    same error ``jsonschema.validate`` raises: the best match among them)."""
    from jsonschema.exceptions import best_match

    error = best_match(_validator().iter_errors(report))
    if error is not None:
        raise error
