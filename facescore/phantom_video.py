"""Ground truth on real video: known exam movements added onto a recording along its own mesh.

The photo phantom (:mod:`facescore.phantom`) proves the numbers on a still face; this module adds
the same movements (same fields, gains, order, repetitions and timing) onto a real recording,
so that the person's own head motion, lighting, blinks, talking and compression stay. What was
added is known exactly and written beside the video as the truth.

Pass 1 (:func:`track_clip`) finds the face mesh and head rotation of every frame and smooths
both with a centred (zero-lag) filter, so that landmark jitter does not make the warp flicker.
One reference face for the whole clip, in head-fixed millimetres (:func:`reference_face`),
carries the photo phantom's movement fields unchanged, so the truth is "mm in the head-fixed
frame", which is what facescore measures. Pass 2 (:func:`generate_from_video`) projects each
frame's displacement into the image with that frame's head rotation and warps the real frame by
the photo phantom's piecewise-linear inverse warp, only in the box the moving mesh covers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from scipy.signal import savgol_filter
from scipy.spatial import Delaunay

from . import geometry
from .anatomy import LID_CENTRE_PAIRS, LOWER_LID, RIGID, SIDES, UPPER_LID
from .errors import FaceError, FacescoreError, SourceError
from .phantom import (
    FIELDS,
    MOVEMENTS,
    X264_OPTIONS,
    BaseFace,
    Distractor,
    Performance,
    Phantom,
    PhantomSpec,
    Sway,
    composite_eye,
    displacement_at,
    distractor_fields,
    exam_truth,
    eye_mask,
    face_ring,
    full_schedule,
)
from .sources import Frame, open_source, pack_i420

#: Centred Savitzky-Golay smoothing of the mesh over time: 7 frames (±0.1 s at 30 fps), quadratic,
#: so a ramp or a turn is followed without lag while frame-to-frame jitter is averaged out.
SMOOTH_WINDOW = 7
SMOOTH_ORDER = 2
#: At most this many frames (evenly spaced) form the median reference face.
REFERENCE_FRAMES = 600
#: H.264 quality: near-transparent, so the codec adds little to the recording's own coding.
CRF = "17"
#: Vertices moving less than this (px) count as still when finding the pixels to warp: the
#: smile's Gaussian fall-off never reaches exactly 0, and would otherwise spread the warp over
#: the whole side of the face for movements far below what any picture shows.
STILL_PX = 0.01

ProgressFn = Callable[[int, int | None], None]


@dataclass(frozen=True)
class ClipMesh:
    """The face mesh of every frame of a recording (pass 1).

    Attributes
    ----------
    path : Path
    t_s : (n,) float ndarray
        Presentation time of each frame, s (from the first frame).
    points : (n, 478, 3) float32 ndarray
        Smoothed landmarks in frame px (x right, y down, z depth); NaN where no face.
    rotations : (n, 3, 3) float ndarray
        Smoothed head rotation (as :func:`geometry.rotation_from_matrix`); NaN where no face.
    found : (n,) bool ndarray
        Frames with a face.
    mm_per_px : float
        The clip's scale: 11.7 mm over the median iris diameter (as the measurement takes it).
    size : (int, int)
        Width and height of the decoded frames, px.
    fps : float
        Average frame rate (nominal; the timestamps are ``t_s``).
    """

    path: Path
    t_s: np.ndarray
    points: np.ndarray
    rotations: np.ndarray
    found: np.ndarray
    mm_per_px: float
    size: tuple[int, int]
    fps: float

    @property
    def frame_s(self) -> float:
        """Typical frame interval, s."""
        if len(self.t_s) > 1:
            return float(np.median(np.diff(self.t_s)))
        return 1.0 / self.fps if self.fps else 0.0

    @property
    def duration_s(self) -> float:
        """From the first frame's start to the last frame's end, s."""
        return float(self.t_s[-1] + self.frame_s)


# --- pass 1: the mesh of every frame -------------------------------------------------------------

def performance_at(performances: Sequence[Performance | Distractor], t: float
                   ) -> Performance | Distractor | None:
    """The performance (or distractor) under way at ``t`` s (its envelope above 0), or None."""
    return next((p for p in performances if p.start_s < t < p.end_s), None)


def _runs(mask: np.ndarray) -> Iterator[tuple[int, int]]:
    """(start, stop) of every run of True in a 1-D bool array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    yield from zip(edges[::2], edges[1::2], strict=True)


def smooth_centred(values: np.ndarray, valid: np.ndarray, window: int = SMOOTH_WINDOW,
                   order: int = SMOOTH_ORDER) -> np.ndarray:
    """Smooth a time series along axis 0 with a centred Savitzky-Golay filter, run by run.

    Each run of valid frames is smoothed on its own (a face lost and found again is not
    blended across the gap); runs shorter than the window get the longest odd window they
    hold, and runs too short for any are left as they are.

    Parameters
    ----------
    values : (n, ...) ndarray
    valid : (n,) bool ndarray

    Returns
    -------
    (n, ...) ndarray
        Same dtype; invalid frames unchanged.
    """
    out = values.copy()
    for start, stop in _runs(valid):
        length = stop - start
        width = min(window, length if length % 2 else length - 1)
        if width > order:
            out[start:stop] = savgol_filter(values[start:stop], width, order, axis=0,
                                            mode="interp")
    return out


def _no_face_error(path: Path, t: float, p: Performance | Distractor,
                   seen_any: bool) -> FaceError:
    where = f"the {p.movement} performance ({p.start_s:.2f}–{p.end_s:.2f} s)"
    if not seen_any:
        return FaceError(f"no face found in base video {path} by {t:.2f} s, where {where} "
                         "needs one")
    return FaceError(f"no face in base video {path} at {t:.2f} s, inside {where}; move the "
                     "performances (--lead-in, --order) or use another clip")


def track_clip(path: str | Path, performances: Sequence[Performance | Distractor] = (),
               model_path=None, progress: ProgressFn | None = None) -> ClipMesh:
    """Pass 1: landmarks and head rotation of every frame, smoothed over time.

    Only the landmarks are kept (~6 KB a frame), never the video.

    Parameters
    ----------
    path : str or Path
        The base recording.
    performances : sequence of Performance or Distractor
        Where movements (or distractors) will be added: a frame inside one must have a face.
        Such a frame gets a full search when the tracker has none (while it has no face the
        tracker searches only every few frames), and the pass stops at the first that has none.
    progress : callable, optional
        ``progress(frames_done, frames_expected_or_None)``.

    Raises
    ------
    SourceError
        Unreadable file.
    FaceError
        No face in any frame, or none in a frame inside a performance.
    """
    from .landmarks import FaceTracker, choose_face

    path = Path(path)
    times: list[float] = []
    points: list[np.ndarray | None] = []
    matrices: list[np.ndarray | None] = []
    with open_source(path, max_side=None) as frames:
        info = frames.info
        if info.kind != "video":
            raise SourceError(f"the base video must be a video file: {path}")
        with FaceTracker(model_path, blendshapes=False) as tracker:
            for frame in frames:
                face = tracker.track(frame)
                p = performance_at(performances, frame.t_s)
                if face is None and p is not None:
                    faces = tracker.search(frame.rgb)
                    if not faces:
                        raise _no_face_error(path, frame.t_s, p, any(x is not None
                                                                    for x in points))
                    face = choose_face(faces, info.width, info.height)
                times.append(frame.t_s)
                points.append(None if face is None else face.points.astype(np.float32))
                matrices.append(None if face is None else face.matrix)
                if progress is not None:
                    progress(len(times), info.n_frames)
    found = np.array([p is not None for p in points])
    if not found.any():
        raise FaceError(f"no face found in base video {path}")
    raw = np.full((len(points), 478, 3), np.nan, np.float32)
    rotations = np.full((len(points), 3, 3), np.nan)
    iris = np.full(len(points), np.nan)
    for i in np.flatnonzero(found):
        raw[i] = points[i]
        rotations[i] = geometry.rotation_from_matrix(matrices[i])
        # The scale from the raw landmarks, exactly as the measurement takes it.
        iris[i] = geometry.iris_diameter_px(geometry.head_fixed(points[i], matrices[i]))
    # The rotation is smoothed element-wise, then made a rotation again.
    smoothed = smooth_centred(rotations, found)
    for i in np.flatnonzero(found):
        rotations[i] = geometry.rotation_from_matrix(smoothed[i])
    return ClipMesh(path=path, t_s=np.asarray(times), points=smooth_centred(raw, found),
                    rotations=rotations, found=found, mm_per_px=geometry.mm_per_px(iris),
                    size=(info.width, info.height), fps=info.fps)


# --- the reference face and its fields -----------------------------------------------------------

def reference_face(mesh: ClipMesh) -> BaseFace:
    """The clip's face in head-fixed mm, in the photo phantom's convention.

    The median over frames of the head-fixed landmarks, scaled by the clip's mm per px.
    ``points`` are (X, -Y) mm (X toward the patient's left, Y up), so ``to_left`` = (1, 0),
    ``up`` = (0, -1) and ``mm_per_px`` = 1: :data:`phantom.FIELDS` then give displacements
    in head-fixed mm and :func:`phantom.side_truth` the truth in mm.
    """
    frames = np.flatnonzero(mesh.found)
    if len(frames) > REFERENCE_FRAMES:
        frames = frames[np.linspace(0, len(frames) - 1, REFERENCE_FRAMES).round().astype(int)]
    heads = np.stack([geometry.head_fixed(mesh.points[i].astype(float), mesh.rotations[i])
                      for i in frames])
    head_mm = np.median(heads, axis=0) * mesh.mm_per_px
    points = np.column_stack([head_mm[:, 0], -head_mm[:, 1]])
    right_eye = points[[u for u, _ in LID_CENTRE_PAIRS["right"]]].mean(axis=0)
    left_eye = points[[u for u, _ in LID_CENTRE_PAIRS["left"]]].mean(axis=0)
    return BaseFace(
        rgb=np.zeros((0, 0, 3), np.uint8),  # the fields need only the mesh
        points=points,
        to_left=np.array([1.0, 0.0]),
        up=np.array([0.0, -1.0]),
        origin=points[list(RIGID)].mean(axis=0),
        iod_px=float(np.linalg.norm(left_eye - right_eye)),  # mm, as mm_per_px is 1
        mm_per_px=1.0,
        name=str(mesh.path),
    )


def movement_fields(ref: BaseFace) -> dict[str, dict[str, np.ndarray]]:
    """Every movement's field per side at gain 1: (478, 2) head-fixed mm in ``ref``'s axes."""
    return {m: {side: FIELDS[m](ref, side) for side in SIDES} for m in MOVEMENTS}


def head_to_image(displacement: np.ndarray, rotation: np.ndarray, px_per_mm: float) -> np.ndarray:
    """Project head-fixed displacements into the image of a frame.

    :func:`geometry.head_fixed` takes camera coordinates (x right, y up, z toward the camera)
    to the head frame as ``head = camera @ R``; a head-frame vector d therefore shows in the
    camera as ``R @ d``, and in the image (y down) as its x and minus its y.

    Parameters
    ----------
    displacement : (N, 2) ndarray
        In the reference face's axes (:func:`reference_face`): (dX, -dY), mm.
    rotation : (3, 3) ndarray
        The frame's head rotation.
    px_per_mm : float

    Returns
    -------
    (N, 2) ndarray
        Image displacement, px (x right, y down).
    """
    head = np.column_stack([displacement[:, 0], -displacement[:, 1],
                            np.zeros(len(displacement))])
    camera = head @ rotation.T
    return px_per_mm * np.column_stack([camera[:, 0], -camera[:, 1]])


def image_up(rotation: np.ndarray) -> np.ndarray:
    """Unit vector toward the top of the head in the image (y down), (2,)."""
    up = np.array([rotation[0, 1], -rotation[1, 1]])
    return up / np.linalg.norm(up)


# --- pass 2: warping a frame ---------------------------------------------------------------------

@dataclass(frozen=True)
class Box:
    """A box of frame pixels with even corners, so that 4:2:0 chroma covers it exactly."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def union(self, other: Box) -> Box:
        return Box(min(self.x0, other.x0), min(self.y0, other.y0),
                   max(self.x1, other.x1), max(self.y1, other.y1))


def moving_box(triangles: np.ndarray, size: tuple[int, int]) -> Box | None:
    """The even-cornered box, clipped to the frame, around triangles; None when it is empty.

    Parameters
    ----------
    triangles : (K, 3, 2) ndarray
        Triangle corners, frame px.
    size : (int, int)
        Frame width and height, px.
    """
    if not len(triangles):
        return None
    corners = triangles.reshape(-1, 2)
    (x0, y0), (x1, y1) = np.floor(corners.min(axis=0)), np.ceil(corners.max(axis=0)) + 1
    width, height = size
    x0, y0 = max(int(x0) // 2 * 2, 0), max(int(y0) // 2 * 2, 0)
    x1, y1 = min(-(-int(x1) // 2) * 2, width), min(-(-int(y1) // 2) * 2, height)
    if x1 <= x0 or y1 <= y0:
        return None
    return Box(x0, y0, x1, y1)


@dataclass(frozen=True)
class MovingMesh:
    """A moved mesh's triangulation, which triangles move, and how to map back.

    Attributes
    ----------
    triangulation : Delaunay
        Of the moved vertices (output px), as :func:`phantom.render_frame` triangulates.
    vertices : (N, 2) ndarray
        The same vertices where they came from (source px).
    moving : (S,) bool ndarray
        Triangles with a moving vertex: every other one maps onto itself.
    well_shaped : (S,) bool ndarray
        Triangles with an area. Slivers (e.g. on the inner lips of a closed mouth) cover no
        pixel centre and have no barycentric transform.
    origin : (S, 2) ndarray
        Each triangle's first corner, output px.
    to_barycentric : (S, 2, 2) ndarray
        Takes (point - origin) to the barycentric coordinates of the second and third corners
        (zero for slivers). Computed here rather than taken from scipy's
        ``Delaunay.transform``, whose LAPACK calls took up to 1.3 s instead of 1 ms when
        OpenBLAS's threads competed with other work for the cores.
    """

    triangulation: Delaunay
    vertices: np.ndarray
    moving: np.ndarray
    well_shaped: np.ndarray
    origin: np.ndarray
    to_barycentric: np.ndarray

    @property
    def moving_corners(self) -> np.ndarray:
        """(K, 3, 2) corners (output px) of the moving triangles."""
        tri = self.triangulation
        return tri.points[tri.simplices[self.moving & self.well_shaped]]


def moving_mesh(source: np.ndarray, displacement: np.ndarray, anchors: np.ndarray) -> MovingMesh:
    """Triangulate the moved mesh and its still anchors.

    Parameters
    ----------
    source : (478, 2) ndarray
        The mesh in the frame, px.
    displacement : (478, 2) ndarray
        Its image displacement, px.
    anchors : (M, 2) ndarray
        Still points around it.
    """
    moved = np.vstack([source + displacement, anchors])
    moves = np.concatenate([np.abs(displacement).max(axis=1) > STILL_PX,
                            np.zeros(len(anchors), bool)])
    triangulation = Delaunay(moved)
    corners = moved[triangulation.simplices]
    origin = corners[:, 0]
    (e1x, e1y), (e2x, e2y) = (corners[:, 1] - origin).T, (corners[:, 2] - origin).T
    det = e1x * e2y - e2x * e1y
    well_shaped = np.abs(det) > 1e-6
    safe = np.where(well_shaped, det, 1.0)
    to_barycentric = np.stack([np.stack([e2y, -e2x], axis=-1),
                               np.stack([-e1y, e1x], axis=-1)], axis=1) / safe[:, None, None]
    to_barycentric[~well_shaped] = 0.0
    return MovingMesh(triangulation, np.vstack([source, anchors]),
                      moves[triangulation.simplices].any(axis=1), well_shaped, origin,
                      to_barycentric)


def _barycentric(mesh: MovingMesh, owner: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """(P, 3) barycentric coordinates of (P, 2) points in triangles ``owner`` (P,)."""
    offset = xy - mesh.origin[owner]
    transform = mesh.to_barycentric[owner]
    second = transform[:, 0, 0] * offset[:, 0] + transform[:, 0, 1] * offset[:, 1]
    third = transform[:, 1, 0] * offset[:, 0] + transform[:, 1, 1] * offset[:, 1]
    return np.column_stack([1.0 - second - third, second, third])


def _inside(mesh: MovingMesh, owner: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """How far inside its triangle each point lies: its least barycentric coordinate.

    -inf for no triangle (-1) and for slivers.
    """
    valid = (owner >= 0) & mesh.well_shaped[np.maximum(owner, 0)]
    return np.where(valid, bary.min(axis=1), -np.inf)


#: A point counts as inside a triangle down to this barycentric coordinate (rounding).
INSIDE_TOLERANCE = -1e-9


def _walk(mesh: MovingMesh, owner: np.ndarray, xy: np.ndarray,
          steps: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Move each point's owner to the neighbour it lies most inside until it is inside.

    A point beside a vertex rather than an edge can stall (no edge neighbour holds it more);
    the few such points are then tested against every triangle.

    Returns the owners and the points' barycentric coordinates in them.
    """
    bary = _barycentric(mesh, owner, xy)
    inside = _inside(mesh, owner, bary)
    neighbours = mesh.triangulation.neighbors
    for _ in range(steps):
        outside = np.flatnonzero(inside < INSIDE_TOLERANCE)
        if not len(outside):
            break
        for candidate in neighbours[owner[outside]].T:  # each of the three neighbours
            known = np.maximum(candidate, 0)
            b = _barycentric(mesh, known, xy[outside])
            score = np.where(candidate >= 0, _inside(mesh, known, b), -np.inf)
            better = score > inside[outside]
            chosen = outside[better]
            owner[chosen], bary[chosen], inside[chosen] = known[better], b[better], score[better]
    stuck = np.flatnonzero(inside < INSIDE_TOLERANCE)
    every = np.flatnonzero(mesh.well_shaped)
    for chunk in np.array_split(stuck, -(-len(stuck) // 128)) if len(stuck) else ():
        # (points, triangles) at once, 128 points at a time to bound the memory.
        offset = xy[chunk, None, :] - mesh.origin[every][None]
        transform = mesh.to_barycentric[every][None]
        second = transform[..., 0, 0] * offset[..., 0] + transform[..., 0, 1] * offset[..., 1]
        third = transform[..., 1, 0] * offset[..., 0] + transform[..., 1, 1] * offset[..., 1]
        least = np.minimum(np.minimum(second, third), 1.0 - second - third)
        best = every[np.argmax(least, axis=1)]
        owner[chunk], bary[chunk] = best, _barycentric(mesh, best, xy[chunk])
    return owner, bary


def triangle_map(mesh: MovingMesh, box: Box) -> np.ndarray:
    """The piecewise-linear inverse warp over a box: output pixel → source position.

    The map :func:`phantom.render_frame` evaluates with scipy's ``LinearNDInterpolator`` on the
    same triangulation, found here at a cost that does not depend on the triangles' shapes:
    the interpolator's point location tests every triangle for each pixel when its walk meets
    slivers. The moving triangles are rasterised (OpenCV, sub-pixel corners) to give each pixel
    a first owner; pixels that no moving triangle touches map onto themselves. A rasterised
    triangle also claims pixels its edges merely touch, so such pixels then walk on to the
    neighbour that holds them (:func:`_walk`, a step or two).

    Returns
    -------
    (height, width, 2) float32 ndarray
        Source (x, y), frame px.
    """
    tri = mesh.triangulation
    moving = np.flatnonzero(mesh.moving & mesh.well_shaped)
    corners = np.round((tri.points[tri.simplices[moving]] - [box.x0, box.y0]) * 16)
    owner_image = np.full((box.height, box.width), -1, np.int32)
    for k, triangle in zip(moving, corners.astype(np.int32), strict=True):
        cv2.fillConvexPoly(owner_image, triangle, int(k), cv2.LINE_8, 4)
    grid_y, grid_x = np.mgrid[box.y0:box.y1, box.x0:box.x1].astype(np.float64)
    positions = np.stack([grid_x, grid_y], axis=-1)
    covered = owner_image >= 0
    xy = positions[covered]
    owner, bary = _walk(mesh, owner_image[covered], xy)
    source = mesh.vertices[tri.simplices[owner]]  # (P, 3, 2)
    positions[covered] = (bary[:, :1] * source[:, 0] + bary[:, 1:2] * source[:, 1]
                          + bary[:, 2:] * source[:, 2])
    return positions.astype(np.float32)


def _anchors(source: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Still points around the face: the ring outside the mesh and beyond the frame's corners."""
    width, height = size
    margin = 4.0
    corners = np.array([[-margin, -margin], [width + margin, -margin],
                        [-margin, height + margin], [width + margin, height + margin]])
    return np.vstack([face_ring(source), corners])


def _closing_above_lower_lid(still: np.ndarray, closing: np.ndarray,
                             up: np.ndarray) -> np.ndarray:
    """``closing`` with each upper-lid vertex kept from passing its still lower-lid vertex.

    On a photo the added closure never exceeds the aperture; on a video the person may be
    blinking when a closure is added, and the uncovered-eye polygon would then turn inside out.
    """
    closing = closing.copy()
    for side in SIDES:
        for upper, lower in zip(UPPER_LID[side], LOWER_LID[side], strict=True):
            below = float((closing[upper] - still[lower]) @ up)
            if below < 0:
                closing[upper] -= below * up
    return closing


@dataclass(frozen=True)
class Warp:
    """One frame's warp: inverse maps over a box, and the uncovered-eye mask when closing."""

    box: Box
    full: np.ndarray  # (h, w, 2) float32 source positions with every movement
    still_eye: np.ndarray | None  # the same without the eye closure
    mask: np.ndarray | None  # (h, w) float32: 1 where the still eye shows


def plan_warp(source: np.ndarray, others: np.ndarray, closure: np.ndarray, up: np.ndarray,
              size: tuple[int, int]) -> Warp | None:
    """The inverse warp of one frame, or None when nothing moves.

    Parameters
    ----------
    source : (478, 2) ndarray
        The frame's (smoothed) mesh, px.
    others, closure : (478, 2) ndarray
        Image displacement (px) by every movement but eye closure, and by eye closure.
    up : (2,) ndarray
        The head's upward direction in the image.
    size : (int, int)
        Frame width and height, px.
    """
    anchors = _anchors(source, size)
    full = moving_mesh(source, others + closure, anchors)
    box = moving_box(full.moving_corners, size)
    if box is None:
        return None
    if not np.abs(closure).max() > STILL_PX:
        return Warp(box, triangle_map(full, box), None, None)
    # Eye closure: a second render without it, shown where the closing lid has not yet
    # covered the eye (as phantom.generate does), so the lid slides over a still eye.
    eye = moving_mesh(source, others, anchors)
    eye_box = moving_box(eye.moving_corners, size)
    box = box if eye_box is None else box.union(eye_box)
    shown = source + others
    covering = _closing_above_lower_lid(shown, shown + closure, up)
    to_box = np.array([[1.0, 0.0, -box.x0], [0.0, 1.0, -box.y0]])
    mask = eye_mask(shown, covering, up, to_box, (box.width, box.height))
    return Warp(box, triangle_map(full, box), triangle_map(eye, box), mask)


def _remap(plane: np.ndarray, positions: np.ndarray, scale: float) -> np.ndarray:
    """Sample ``plane`` (full frame, possibly subsampled by ``scale``) at frame positions."""
    if scale != 1.0:
        height, width = positions.shape[:2]
        size = (round(width * scale), round(height * scale))
        # A 4:2:0 chroma sample sits at the centre of its 2x2 luma block: average the block's
        # positions, then go to chroma pixels.
        positions = (cv2.resize(positions, size, interpolation=cv2.INTER_AREA) - 0.5) * scale
    return cv2.remap(plane, positions[..., 0], positions[..., 1], cv2.INTER_CUBIC,
                     borderMode=cv2.BORDER_REFLECT101)


def apply_warp(planes: list[np.ndarray], scales: Sequence[float], warp: Warp) -> None:
    """Warp picture planes in place, inside the warp's box only.

    Parameters
    ----------
    planes : list of ndarray
        The frame's planes: Y, U, V (``scales`` 1, 0.5, 0.5) or one RGB picture (scale 1).
    """
    box = warp.box
    for plane, scale in zip(planes, scales, strict=True):
        rendered = _remap(plane, warp.full, scale)
        if warp.mask is not None:
            eye = _remap(plane, warp.still_eye, scale)
            mask = warp.mask
            if scale != 1.0:
                mask = cv2.resize(mask, rendered.shape[1::-1], interpolation=cv2.INTER_AREA)
            rendered = composite_eye(mask, eye, rendered)
        y0, x0 = round(box.y0 * scale), round(box.x0 * scale)
        plane[y0:y0 + rendered.shape[0], x0:x0 + rendered.shape[1]] = rendered


def _planes(frame: Frame, size: tuple[int, int]) -> tuple[list[np.ndarray], list[float]]:
    """Writable copies of a frame's planes, cropped to the (even) output size."""
    width, height = size
    if frame.planar:
        u, v = frame.chroma
        return [frame.gray.copy(), u.copy(), v.copy()], [1.0, 0.5, 0.5]
    return [np.ascontiguousarray(frame.rgb[:height, :width])], [1.0]


COLOUR_TAGS = ("colorspace", "color_range", "color_primaries", "color_trc")


def colour_tags(path: Path) -> dict[str, int]:
    """The base video's colour matrix, range, primaries and transfer (FFmpeg's codes).

    They go into the output unchanged: the planes are copied as they are, so they mean what
    they meant in the base video, and a player converts both to the same RGB.
    """
    import av

    with av.open(str(path)) as container:
        context = container.streams.video[0].codec_context
        return {tag: int(getattr(context, tag)) for tag in COLOUR_TAGS}


def _video_frame(planes: list[np.ndarray], mirror: bool):
    import av

    if mirror:
        planes = [np.ascontiguousarray(p[:, ::-1]) for p in planes]
    if len(planes) == 3:
        height, width = planes[0].shape
        packed = pack_i420(*planes).reshape(height * 3 // 2, width)
        return av.VideoFrame.from_ndarray(packed, format="yuv420p")
    return av.VideoFrame.from_ndarray(planes[0], format="rgb24")


# --- the whole clip ------------------------------------------------------------------------------

def _check_duration(needed_s: float, clip_s: float | None) -> None:
    if clip_s is not None and needed_s > clip_s + 1e-6:
        raise FacescoreError(f"base video is {clip_s:.1f} s; the schedule needs {needed_s:.1f} s "
                             "— use fewer movements (--order) or a shorter lead-in")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def video_truth(mesh: ClipMesh, spec: PhantomSpec, ref: BaseFace | None = None) -> dict:
    """The truth of movements added to a clip: the photo phantom's schema plus the base video.

    ``spec``'s size, fps, noise, sway and face placement do not apply (the clip's own are kept)
    and are recorded as the clip's (face width and centre: medians over frames).
    """
    ref = ref or reference_face(mesh)
    performances, distractors, needed = full_schedule(spec)
    width, height = mesh.size
    xy = mesh.points[mesh.found, :, :2]
    face_width = float(np.median(np.ptp(xy[..., 0], axis=1))) / width
    centre = np.median(xy.mean(axis=1), axis=0) / [width, height]
    effective = replace(spec, size=mesh.size, fps=mesh.fps, noise=0.0, sway=Sway(0.0, 0.0, 0.0),
                        face_width_frac=round(face_width, 4),
                        face_centre_frac=tuple(round(float(c), 4) for c in centre))
    truth = exam_truth(ref, effective, performances, mesh.duration_s, movement_fields(ref),
                       distractors, distractor_fields(ref, spec.distractors, spec))
    truth.update({
        "base_face": str(mesh.path),
        "base_mm_per_px": mesh.mm_per_px,
        "base_kind": "video",
        "base_video": str(mesh.path),
        "mm_per_px": mesh.mm_per_px,
        "schedule_s": needed,
        "n_frames": len(mesh.t_s),
        "frames_without_face": int((~mesh.found).sum()),
        "smoothing": f"centred Savitzky-Golay, {SMOOTH_WINDOW} frames, order {SMOOTH_ORDER}",
    })
    truth["note"] += (" Truth is in head-fixed mm (X toward the patient's left, Y up) at the "
                      "clip's scale (mm_per_px, from the iris). Only the added movements are "
                      "in the truth: the base recording's own movements (blinks, talking, "
                      "expressions, head motion) are not, and add to what is measured.")
    return truth


def generate_from_video(path: str | Path, base_video: str | Path,
                        spec: PhantomSpec | None = None, model_path=None,
                        progress: ProgressFn | None = None) -> Phantom:
    """Add the exam movements of ``spec`` onto a real recording; write it and its truth.

    The output keeps the base clip's resolution (less one px of an odd dimension), frame count
    and per-frame timestamps; no audio; H.264 yuv420p. ``spec.gains``, ``order``,
    ``repetitions``, ``timing`` and ``mirror`` apply; its size, fps, noise and sway do not.

    Parameters
    ----------
    path : str or Path
        Output video; the truth goes to ``<path>.truth.json``. Both are written under
        temporary names and renamed at the end, so an error leaves neither.
    base_video : str or Path
        The recording to add movements to.
    progress : callable, optional
        ``progress(done, total)`` over both passes (each frame counts once per pass).

    Raises
    ------
    FacescoreError
        The schedule is longer than the clip, a frame inside a performance has no face, no
        frame has a face, or the file cannot be read.
    """
    import av

    spec = spec or PhantomSpec()
    base_video, path = Path(base_video), Path(path)
    performances, distractors, needed = full_schedule(spec)
    if not performances and not distractors:
        raise FacescoreError("nothing to add: give at least one movement and repetition")
    with open_source(base_video, max_side=None) as probe:  # fails early on the cheap checks
        _check_duration(needed, probe.info.duration_s)
        expected = probe.info.n_frames

    def pass_progress(offset: int) -> ProgressFn | None:
        if progress is None:
            return None
        return lambda done, total: progress(offset + done, 2 * (total or expected or done))

    mesh = track_clip(base_video, [*performances, *distractors], model_path, pass_progress(0))
    _check_duration(needed, mesh.duration_s)
    n = len(mesh.t_s)
    expected = n
    ref = reference_face(mesh)
    fields = movement_fields(ref)
    extra = distractor_fields(ref, spec.distractors, spec)
    px_per_mm = 1.0 / mesh.mm_per_px
    width, height = (v // 2 * 2 for v in mesh.size)
    rate = Fraction(mesh.fps or 30.0).limit_denominator(1001)
    time_base = Fraction(1, 90000)

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    truth_path = path.with_name(path.name + ".truth.json")
    truth_tmp = truth_path.with_name(truth_path.name + ".partial")
    try:
        with av.open(str(partial), mode="w", format="mp4") as container, \
                open_source(base_video, max_side=None) as frames:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            # The photo phantom's reproducible settings (see phantom.X264_OPTIONS), at CRF.
            stream.options = {**X264_OPTIONS, "crf": CRF}
            stream.codec_context.thread_count = 1
            stream.codec_context.time_base = time_base
            # Planes pass through untouched only when both sides are even (else the frames come
            # as RGB, converted on the way in and out with FFmpeg's defaults).
            even = mesh.size[0] % 2 == 0 and mesh.size[1] % 2 == 0
            tags = colour_tags(base_video) if even else {}
            for tag, value in tags.items():
                setattr(stream.codec_context, tag, value)
            last_pts = -1
            for frame in frames:
                i = frame.index
                if i >= n or abs(frame.t_s - mesh.t_s[i]) > 1e-6:
                    raise SourceError(f"{base_video} decoded differently the second time")
                planes, scales = _planes(frame, (width, height))
                others, closure = displacement_at(frame.t_s, performances, spec, fields,
                                                  distractors, extra)
                if mesh.found[i] and (others.any() or closure.any()):
                    rotation = mesh.rotations[i]
                    warp = plan_warp(mesh.points[i, :, :2].astype(float),
                                     head_to_image(others, rotation, px_per_mm),
                                     head_to_image(closure, rotation, px_per_mm),
                                     image_up(rotation), (width, height))
                    if warp is not None:
                        apply_warp(planes, scales, warp)
                out = _video_frame(planes, spec.mirror)
                for tag, value in tags.items():
                    setattr(out, tag, value)
                # The source's own time of every frame: a variable frame rate stays variable.
                last_pts = max(round(frame.t_s / time_base), last_pts + 1)
                out.pts, out.time_base = last_pts, time_base
                for packet in stream.encode(out):
                    container.mux(packet)
                if progress is not None:
                    progress(n + i + 1, 2 * n)
            for packet in stream.encode():
                container.mux(packet)
        truth = video_truth(mesh, spec, ref)
        truth["base_video_sha256"] = _sha256(base_video)
        truth["video_sha256"] = _sha256(partial)
        truth_tmp.write_text(json.dumps(truth, indent=2))
        partial.replace(path)
        truth_tmp.replace(truth_path)
    except BaseException:
        for leftover in (partial, truth_tmp):
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise
    return Phantom(path, truth_path, truth)
