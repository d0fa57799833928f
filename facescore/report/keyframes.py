"""Rest and peak frames with the measured points drawn, for the report."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..anatomy import BROW, LID_CENTRE_PAIRS, MOUTH_CORNER, SIDES
from ..landmarks import FaceTracker
from ..sources import open_source

#: Drawing colours (RGB) per anatomical side, matching the plots.
SIDE_RGB = {"left": (31, 119, 180), "right": (214, 39, 40)}


def grab_frames(path: str | Path, times_s: list[float], mirrored: bool) -> dict[float, np.ndarray]:
    """The frames nearest to each requested time, in one streaming pass."""
    wanted = sorted(set(times_s))
    grabbed: dict[float, np.ndarray] = {}
    if not wanted:
        return grabbed
    best: dict[float, float] = {}
    with open_source(path, mirrored=mirrored) as source:
        for frame in source:
            for t in wanted:
                error = abs(frame.t_s - t)
                if error < best.get(t, np.inf):
                    best[t], grabbed[t] = error, frame.rgb
            if frame.t_s > wanted[-1] + 1.0:
                break
    return grabbed


def annotate(rgb: np.ndarray, tracker: FaceTracker) -> np.ndarray:
    """Crop to the face and draw the brow, lid and mouth-corner points of each side."""
    faces = tracker.search(rgb)
    if not faces:
        return rgb
    points = max(faces, key=lambda f: f.width_px).points[:, :2]
    image = rgb.copy()
    radius = max(2, int(round(np.ptp(points[:, 0]) / 120)))
    for side in SIDES:
        colour = SIDE_RGB[side]
        indices = [*BROW[side], *(i for pair in LID_CENTRE_PAIRS[side] for i in pair),
                   MOUTH_CORNER[side]]
        for x, y in points[indices]:
            cv2.circle(image, (int(round(x)), int(round(y))), radius, colour, -1, cv2.LINE_AA)
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    pad = 0.25 * max(x1 - x0, y1 - y0)
    x0, y0 = int(max(x0 - pad, 0)), int(max(y0 - pad, 0))
    x1, y1 = int(min(x1 + pad, image.shape[1])), int(min(y1 + pad, image.shape[0]))
    crop = image[y0:y1, x0:x1]
    scale = 320 / max(crop.shape[:2])
    crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    # The patient's right is on the viewer's left (frames are shown as an examiner sees them).
    for text, x in (("R", 6), ("L", crop.shape[1] - 18)):
        cv2.putText(crop, text, (x, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
    return crop


def jpeg(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 85])
    return data.tobytes() if ok else b""


def annotate_frames(pictures: dict[str, np.ndarray | None]) -> dict[str, bytes]:
    """JPEG bytes of each picture with its measured points drawn (None pictures skipped)."""
    out = {}
    with FaceTracker(blendshapes=False) as tracker:
        for name, rgb in pictures.items():
            if rgb is not None:
                out[name] = jpeg(annotate(rgb, tracker))
    return out


def key_frames(path: str | Path, times_s: dict[str, float], mirrored: bool) -> dict[str, bytes]:
    """JPEG bytes of annotated frames read back from a video, by name."""
    grabbed = grab_frames(path, list(times_s.values()), mirrored)
    return annotate_frames({name: grabbed.get(t) for name, t in times_s.items()})

