"""How far each side moved, measured without a left-right prior and against a reference.

MediaPipe's landmark model pulls faces toward symmetry (BRIEF §4): it under-reports the moving
side and makes a frozen side appear to move. Here each side's movement is measured from its own
pixels: small patches seeded on the landmarks of a reference frame (an *anchor*) are found again
in every frame with pyramidal Lucas-Kanade optical flow. Landmarks only locate: they seed the
patches, give the tracker a starting guess and bound what is plausible; they never decide how
far a side moved.

Per frame:

1. The face is brought into the anchor's *working picture*: a square crop resampled so that the
   eyes are :data:`WORKING_IOD_PX` apart, turned and scaled by a similarity that puts the
   nasal-ridge landmarks where they were in the anchor, and locally contrast-normalised (a
   change of lighting or exposure then does not read as movement).
2. Every patch is tracked twice: from the previous frame (a *chained* track, which follows a
   deforming region such as a smiling mouth corner) and from the anchor's own picture (which
   cannot drift). The anchored result is used when the two agree, when the landmarks say the
   region is back at rest (re-anchoring the chain), or when the chain failed; otherwise the chain.
   Both must pass a forward-backward check, and a result farther from the landmarks' estimate
   than :data:`BAND_MM` plus :data:`BAND_SHARE` of the landmarks' own movement is dropped as a
   tracking failure (the band is wide enough for the landmarks' symmetry bias, so it bounds
   drift without imposing symmetry).
3. The head's motion is the similarity fitted to the tracked nasal-ridge patches; each patch's
   displacement is what remains, in the anchor's axes. Out-of-plane head rotation (parallax) is
   removed afterwards, by :mod:`facescore.signals`, from the smoothed head pose.
4. The upper lids are measured by :mod:`facescore.eyelids` on the same picture.

Anchors: a new one is made when the head has turned more than :data:`REANCHOR_DEG` from every
anchor so far (with both eyes open and the tracking sound), and the nearest anchor is used for
each frame, so the patches are always compared with a picture of the face in nearly the same
pose. Each anchor's signals are brought back to zero at rest afterwards
(:func:`facescore.signals.rezero`), so an anchor made during an expression costs nothing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from .anatomy import (
    BROW,
    BROW_INNER,
    EYE_CORNERS,
    LID_CENTRE_PAIRS,
    MOUTH_CORNER,
    NASAL_RIDGE,
    SIDES,
)
from .eyelids import EyeModel, LidReading, eye_model, read_lid, sample_region
from .geometry import (
    IRIS_DIAMETER_MM,
    apply_affine,
    head_fixed,
    head_pose,
    invert_affine,
    iris_diameter_px,
    rotation_from_matrix,
    similarity_fit,
)

#: Patch groups: name → landmarks. ``ridge`` measures the head's motion.
GROUPS: dict[str, tuple[int, ...]] = {"ridge": tuple(NASAL_RIDGE)}
for _side in SIDES:
    GROUPS[f"brow_{_side}"] = BROW[_side]
    GROUPS[f"brow_inner_{_side}"] = BROW_INNER[_side]
    GROUPS[f"lower_lid_{_side}"] = tuple(lo for _, lo in LID_CENTRE_PAIRS[_side])
    GROUPS[f"mouth_{_side}"] = (MOUTH_CORNER[_side],)
#: Groups whose displacement is reported (all but the head's reference).
MOVING_GROUPS = tuple(name for name in GROUPS if name != "ridge")

SEED_INDICES = np.array(sorted({i for group in GROUPS.values() for i in group}))
_ROW = {landmark: row for row, landmark in enumerate(SEED_INDICES)}
_GROUP_ROWS = {name: np.array([_ROW[i] for i in group]) for name, group in GROUPS.items()}
_RIDGE_ROWS = _GROUP_ROWS["ridge"]
_LOWER_LID_ROWS = np.concatenate([_GROUP_ROWS[f"lower_lid_{s}"] for s in SIDES])
_MOUTH_ROWS = np.concatenate([_GROUP_ROWS[f"mouth_{s}"] for s in SIDES])
_OTHER_ROWS = np.setdiff1d(np.arange(len(SEED_INDICES)),
                           np.concatenate([_LOWER_LID_ROWS, _MOUTH_ROWS, _RIDGE_ROWS]))
_GROUP_OF_ROW = np.empty(len(SEED_INDICES), dtype=object)
for _name, _rows in _GROUP_ROWS.items():
    _GROUP_OF_ROW[_rows] = _name

#: The working picture's scale: this many px between the eyes, whatever the video.
WORKING_IOD_PX = 100.0
#: The working picture spans this multiple of the landmark cloud's extent.
CROP_MARGIN = 1.6
#: Local contrast normalisation: Gaussian scale (working px) of the local mean and spread.
NORMALISE_SIGMA = 8.0
LK_WINDOW = (21, 21)
#: Lower-lid patches get a smaller window, so that it does not also hold the upper lid.
LID_WINDOW = (11, 11)
MOUTH_WINDOW = (21, 21)
#: Pyramid levels: the working picture is stabilised on the nose and each search starts from
#: last frame's position, so what is left to find is small (a level halves the cost).
LK_LEVELS = 2
CHAIN_LEVELS = 2
_LK_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)
#: A track is kept when tracking it back lands within this many working px of its start.
FORWARD_BACKWARD_PX = 1.0
#: The same for a photo measured against a reference photo (:meth:`AnchoredTracker.update`'s
#: ``independent``): with no frames between them, a smiling mouth corner's patch deforms in
#: one step, and at 1 px the corner was lost in 8 of 32 phantom smile photos (every one a full,
#: 8 mm smile); at 2 px in none, the plausibility band still bounding gross failures.
PHOTO_FORWARD_BACKWARD_PX = 2.0
#: Chained and anchored results closer than this (working px) agree.
AGREE_PX = 1.0
#: A region is at rest when its landmarks moved less than this from the anchor, mm.
REST_MM = 1.0
#: Plausibility band around the landmarks' estimate: this many mm …
BAND_MM = 3.0
#: … plus this share of the landmarks' own displacement (their symmetry bias stays inside).
BAND_SHARE = 0.6
#: Lower-lid patches sit this share of the resting aperture below the lid margin, on the lid.
LID_SEED_OFFSET = 0.45
#: A new anchor is made when the head has turned this far (deg) from every anchor so far.
REANCHOR_DEG = 6.0
MAX_ANCHORS = 16
#: Another anchor replaces the current one only when it is this much nearer in pose, deg.
SWITCH_MARGIN_DEG = 1.5
#: An eye is modelled only when its landmark aperture is at least this share of the
#: inter-ocular distance (not mid-blink); resting apertures are ~0.12-0.16 of it.
MIN_OPEN_APERTURE_IOD = 0.09


RIDGE_WINDOW = (21, 21)


def _rows_by_window(assignments: tuple[tuple[np.ndarray, tuple[int, int]], ...]
                    ) -> tuple[tuple[np.ndarray, tuple[int, int]], ...]:
    """Patch rows gathered by search window: one Lucas-Kanade call per distinct window.

    OpenCV tracks each point on its own, so tracking the groups that share a window in one
    call gives the same results as one call per group, while the image pyramids that every
    call builds anew are built once instead of once per group.
    """
    gathered: dict[tuple[int, int], list[np.ndarray]] = {}
    for rows, window in assignments:
        gathered.setdefault(window, []).append(rows)
    return tuple((np.sort(np.concatenate(parts)), window) for window, parts in gathered.items())


_WINDOWS = _rows_by_window(((_OTHER_ROWS, LK_WINDOW), (_LOWER_LID_ROWS, LID_WINDOW),
                            (_MOUTH_ROWS, MOUTH_WINDOW), (_RIDGE_ROWS, RIDGE_WINDOW)))


def normalise_contrast(picture: np.ndarray, sigma: float = NORMALISE_SIGMA) -> np.ndarray:
    """Local contrast normalisation: (picture − local mean) / local spread, as uint8.

    Smooth changes of lighting and exposure (gain and offset varying over the face) cancel, so
    that brightness constancy, which Lucas-Kanade assumes, holds again.

    Parameters
    ----------
    picture : (H, W) uint8 ndarray
    sigma : float
        Scale of the local statistics, px (box windows of the same spread).

    Returns
    -------
    (H, W) uint8 ndarray
        128 + 48 × the normalised value, clipped.
    """
    # Box means (O(1) per pixel) of the width with a Gaussian's spread: 4x faster than
    # Gaussian blurs of sigma 8 and the same normalisation to within a grey level or two.
    width = (int(round(sigma * np.sqrt(12.0))) | 1, ) * 2
    # Worked in place where the order of operations allows: every step is a whole picture.
    values = picture.astype(np.float32)
    detail = np.subtract(values, cv2.blur(values, width), out=values)
    # A box filter's running sums can dip a hair below zero on flat areas: no NaN from sqrt.
    # (OpenCV's max gives numpy's maximum's values, several times faster on float32.)
    spread = cv2.sqrt(cv2.max(cv2.blur(detail * detail, width), 0.0))
    spread += 4.0
    normalised = np.multiply(detail, 48.0, out=detail)  # 128 + 48 × detail / spread
    normalised /= spread
    normalised += 128.0
    return np.clip(normalised, 0, 255, out=normalised).astype(np.uint8)


def seed_positions(points_xy: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Where the patches start: on the seed landmarks, lower-lid patches moved onto the lid.

    Parameters
    ----------
    points_xy : (478, 2) ndarray
        Landmarks, image px.
    up : (2,) ndarray
        Unit vector up the face, image coordinates.

    Returns
    -------
    (len(SEED_INDICES), 2) ndarray
    """
    seeds = points_xy[SEED_INDICES].astype(float).copy()
    for side in SIDES:
        pairs = LID_CENTRE_PAIRS[side]
        aperture = np.mean([(points_xy[u] - points_xy[lo]) @ up for u, lo in pairs])
        for _, lower in pairs:
            seeds[_ROW[lower]] -= LID_SEED_OFFSET * max(aperture, 0.0) * up
    return seeds


def face_axes(points_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors (image coordinates) toward the patient's left and up the face."""
    left_eye = points_xy[list(LID_CENTRE_PAIRS["left"][1])].mean(axis=0)
    right_eye = points_xy[list(LID_CENTRE_PAIRS["right"][1])].mean(axis=0)
    to_left = left_eye - right_eye
    to_left = to_left / np.linalg.norm(to_left)
    return to_left, np.array([to_left[1], -to_left[0]])  # image y grows downward


def _eye_span(points_xy: np.ndarray) -> float:
    """The face's scale in the picture, px: the mean distance between the outer and between
    the inner eye corners (bone holds them; the irises would serve too, but they hide under a
    closing lid and their landmarks wander then)."""
    (ro, ri), (lo, li) = EYE_CORNERS["right"], EYE_CORNERS["left"]
    return float(0.5 * (np.linalg.norm(points_xy[lo] - points_xy[ro])
                        + np.linalg.norm(points_xy[li] - points_xy[ri])))


def _iod(points_xy: np.ndarray) -> float:
    left_eye = points_xy[list(LID_CENTRE_PAIRS["left"][1])].mean(axis=0)
    right_eye = points_xy[list(LID_CENTRE_PAIRS["right"][1])].mean(axis=0)
    return float(np.linalg.norm(left_eye - right_eye))


def _eyes_open(points: np.ndarray) -> bool:
    """Both eyes open (not mid-blink): a frame fit to be a reference."""
    xy = points[:, :2]
    iod = _iod(xy)
    return all(np.mean([xy[lo, 1] - xy[u, 1] for u, lo in LID_CENTRE_PAIRS[side]])
               >= MIN_OPEN_APERTURE_IOD * iod for side in SIDES)


def track(previous: np.ndarray, current: np.ndarray, start: np.ndarray,
          guess: np.ndarray | None, window: tuple[int, int],
          levels: int = LK_LEVELS, fb_px: float = FORWARD_BACKWARD_PX
          ) -> tuple[np.ndarray, np.ndarray]:
    """Pyramidal Lucas-Kanade with a forward-backward check.

    Parameters
    ----------
    previous, current : 2-D uint8 ndarray
    start : (N, 2) ndarray
        Patch centres in ``previous``.
    guess : (N, 2) ndarray or None
        Where to start looking in ``current``.
    fb_px : float
        Largest forward-backward error of a kept track, px.

    Returns
    -------
    found : (N, 2) ndarray
    good : (N,) bool ndarray
    """
    p0 = start.reshape(-1, 1, 2).astype(np.float32)
    params = {"winSize": window, "maxLevel": levels, "criteria": _LK_CRITERIA}
    if guess is None:
        forward, ok_f, _ = cv2.calcOpticalFlowPyrLK(previous, current, p0, None, **params)
    else:
        forward, ok_f, _ = cv2.calcOpticalFlowPyrLK(
            previous, current, p0, guess.reshape(-1, 1, 2).astype(np.float32).copy(),
            flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **params)
    backward, ok_b, _ = cv2.calcOpticalFlowPyrLK(current, previous, forward, p0.copy(),
                                                 flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **params)
    error = np.linalg.norm((backward - p0).reshape(-1, 2), axis=1)
    good = (ok_f.ravel() == 1) & (ok_b.ravel() == 1) & (error < fb_px)
    return forward.reshape(-1, 2), good


def choose_results(chained: np.ndarray, chained_ok: np.ndarray, anchored: np.ndarray,
                   anchored_ok: np.ndarray, at_rest: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                          np.ndarray]:
    """Per patch: the anchored result when it agrees with the chain, when the region is at rest
    or when the chain failed; else the chained one (it follows a deforming region).

    (Letting the landmarks choose between two disagreeing results was tried: on a side that did
    not move, the landmarks' pull toward the other side's movement then chose the result that
    moved, and a frozen brow read 12 % of the moving one instead of 4 %.)

    Returns
    -------
    position : (N, 2) ndarray
    ok : (N,) bool ndarray
    anchored_used : (N,) bool ndarray
    """
    agree = chained_ok & anchored_ok & (np.linalg.norm(anchored - chained, axis=1) < AGREE_PX)
    use_anchor = anchored_ok & (at_rest | ~chained_ok | agree)
    position = np.where(use_anchor[:, None], anchored, chained)
    return position, use_anchor | chained_ok, use_anchor


@dataclass
class Anchor:
    """A reference frame: the face's picture and patch positions in one head pose.

    Coordinates are the anchor's working px unless named otherwise.
    """

    index: int
    frame: int  # frame index where it was made
    yaw: float
    pitch: float  # landmark head pose there, deg
    to_working: np.ndarray  # (2, 3) frame px → working px
    size: int  # working picture side, px
    scale: float  # working px per frame px
    picture: np.ndarray  # (size, size) normalised working picture
    seeds: np.ndarray  # (K, 2) patch centres
    landmark_seeds: np.ndarray  # (K, 2) the seeds' landmarks (lids not offset)
    ridge_frame: np.ndarray  # (R, 2) nasal-ridge landmarks, frame px
    eye_span_px: float  # span of the eye corners, frame px (the picture's scale)
    rotation: np.ndarray  # (3, 3) landmark head rotation
    seeds_head: np.ndarray  # (K, 3) seeds in the head-fixed frame, frame px (for parallax)
    landmark_head: np.ndarray  # (K, 2) seed landmarks head-fixed, frame px (rest test)
    mm_per_px: float  # rough scale from the anchor's own iris (rest test only)
    eyes: dict[str, EyeModel | None] = field(default_factory=dict)


@dataclass
class FlowReading:
    """What the tracker measured in one frame.

    Attributes
    ----------
    anchor : int
        Index of the anchor the frame was measured against.
    groups : dict of str to (2,) ndarray
        Mean displacement of each group's valid patches from the anchor, in the anchor's image
        axes (x right, y down), frame px; NaN where no patch of the group was measured.
    valid : dict of str to float
        Share of each group's patches measured.
    anchored : float
        Share of measured patches taken from the anchor (the rest from the chain).
    lids : dict of str to LidReading or None
        Each eye's narrowing (frame px) and fit costs; None when the eye is not modelled.
    ridge_ok : bool
        The head's motion came from tracked nasal-ridge patches (False: from its landmarks).
    pose_distance : float
        Angle (deg) between the head pose and the anchor's.
    """

    anchor: int
    groups: dict[str, np.ndarray]
    valid: dict[str, float]
    anchored: float
    lids: dict[str, LidReading | None]
    ridge_ok: bool
    pose_distance: float


class AnchoredTracker:
    """Measures every frame's patch displacements against the nearest anchor.

    Call :meth:`update` with each frame's picture (grey or RGB) and landmarks; call
    :meth:`restart` when the face was lost, so that the next frame starts a new set of anchors.
    """

    def __init__(self) -> None:
        self.anchors: list[Anchor] = []
        self._epoch_start = 0  # index of the first anchor of the current tracking run
        self._active: Anchor | None = None
        self._previous: np.ndarray | None = None
        self._previous_positions: np.ndarray | None = None
        self._previous_ok: np.ndarray | None = None
        self._previous_valid_share = 1.0
        self._expressions: deque[float] = deque(maxlen=900)
        self.n_dropped = 0  # patches dropped as implausible (outside the landmark band)

    # --- anchors ------------------------------------------------------------------------------
    def restart(self) -> None:
        """Forget the chain and this run's anchors (the face was lost)."""
        self._epoch_start = len(self.anchors)
        self._active = None
        self._previous = None
        self._expressions.clear()

    def _neutral_enough(self, expression: float) -> bool:
        """A reference is taken only at rest: no more expression than the run's median so far
        (a reference taken mid-movement would make that movement its zero)."""
        if not np.isfinite(expression) or len(self._expressions) < 5:
            return True
        return expression <= float(np.median(self._expressions))

    def _make_anchor(self, gray: np.ndarray, points: np.ndarray, matrix: np.ndarray,
                     head: np.ndarray, frame: int) -> Anchor:
        xy = points[:, :2]
        to_left, up = face_axes(xy)
        iod = _iod(xy)
        scale = WORKING_IOD_PX / max(iod, 1.0)
        (xmin, ymin), (xmax, ymax) = xy.min(axis=0), xy.max(axis=0)
        size = int(round(CROP_MARGIN * max(xmax - xmin, ymax - ymin) * scale))
        centre = np.array([(xmin + xmax) / 2, (ymin + ymax) / 2])
        to_working = np.array([[scale, 0.0, size / 2 - scale * centre[0]],
                               [0.0, scale, size / 2 - scale * centre[1]]])
        picture = normalise_contrast(working_picture(gray, to_working, size))
        seeds_frame = seed_positions(xy, up)
        pose = head_pose(matrix)
        rotation = rotation_from_matrix(matrix)
        seeds_head = head[SEED_INDICES].copy()
        # Lower-lid seeds sit off their landmarks: move them in the head frame too.
        jacobian = image_jacobian(rotation)
        seeds_head[:, :2] += np.linalg.solve(jacobian, (seeds_frame - xy[SEED_INDICES]).T).T
        anchor = Anchor(
            index=len(self.anchors), frame=frame, yaw=pose.yaw, pitch=pose.pitch,
            to_working=to_working, size=size, scale=scale, picture=picture,
            seeds=apply_affine(to_working, seeds_frame).astype(np.float32),
            landmark_seeds=apply_affine(to_working, xy[SEED_INDICES]),
            ridge_frame=xy[list(NASAL_RIDGE)].copy(), eye_span_px=_eye_span(xy),
            rotation=rotation, seeds_head=seeds_head,
            landmark_head=head[SEED_INDICES, :2] / iod,
            mm_per_px=IRIS_DIAMETER_MM / max(iris_diameter_px(head), 1e-6))
        self._add_eyes(anchor, picture, apply_affine(to_working, xy), iod)
        self.anchors.append(anchor)
        return anchor

    @staticmethod
    def _add_eyes(anchor: Anchor, picture: np.ndarray, working_points: np.ndarray,
                  iod: float) -> None:
        """Model the eyes not modelled yet that are open in this picture (anchor coordinates)."""
        for side in SIDES:
            if anchor.eyes.get(side) is not None:
                continue
            pairs = LID_CENTRE_PAIRS[side]
            upper = working_points[[u for u, _ in pairs]]
            lower = working_points[[lo for _, lo in pairs]]
            aperture = float(np.mean(lower[:, 1] - upper[:, 1])) / anchor.scale
            if aperture >= MIN_OPEN_APERTURE_IOD * iod:
                anchor.eyes[side] = eye_model(picture, upper, lower)

    def _nearest(self, yaw: float, pitch: float) -> tuple[Anchor | None, float]:
        best, distance = None, np.inf
        for anchor in self.anchors[self._epoch_start:]:
            d = float(np.hypot(yaw - anchor.yaw, pitch - anchor.pitch))
            if d < distance:
                best, distance = anchor, d
        return best, distance

    def _at_rest(self, anchor: Anchor, head: np.ndarray, iod: float) -> np.ndarray:
        """Per patch: whether its group's landmarks are within :data:`REST_MM` of the anchor's
        (``iod``: this frame's, from :func:`_iod`)."""
        seeds = head[SEED_INDICES, :2] / iod
        moved_iod = np.linalg.norm(seeds - anchor.landmark_head, axis=1)
        # iod in mm ≈ the anchor's iod px × its mm per px
        moved_mm = moved_iod * (WORKING_IOD_PX / anchor.scale) * anchor.mm_per_px
        rest = np.zeros(len(SEED_INDICES), dtype=bool)
        for rows in _GROUP_ROWS.values():
            rest[rows] = moved_mm[rows].mean() < REST_MM
        return rest

    # --- frames -------------------------------------------------------------------------------
    def update(self, picture: np.ndarray, points: np.ndarray, matrix: np.ndarray,
               frame: int, expression: float = float("nan"),
               head: np.ndarray | None = None, independent: bool = False) -> FlowReading:
        """Measure one frame.

        Parameters
        ----------
        picture : (H, W) or (H, W, 3) uint8 ndarray
            The frame's luma (or RGB picture).
        points : (478, 3) ndarray
            Its landmarks, frame px.
        matrix : (4, 4) ndarray
            Its facial transformation matrix.
        frame : int
            Frame index (recorded on anchors).
        expression : float
            How far the face is from neutral (:func:`facescore.features.expression_score`); a
            new anchor is made only at a frame at least as neutral as the run's median so far.
        head : (478, 3) ndarray, optional
            The landmarks in the head-fixed frame (:func:`facescore.geometry.head_fixed`),
            when the caller has them already; computed here otherwise.
        independent : bool
            Measure this frame on its own against the first anchor: no new anchor and no
            chain from the previous frame, the search starting from the landmarks' estimate
            (photos, each compared with one reference photo whatever the pose, which the caller
            then judges). False: a video's frames, chained and re-anchored as the head turns.
        """
        if head is None:
            head = head_fixed(points, matrix)
        gray = picture if picture.ndim == 2 else cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY)
        pose = head_pose(matrix)
        if np.isfinite(expression):
            self._expressions.append(expression)
        anchor, distance = self._nearest(pose.yaw, pose.pitch)
        if independent and anchor is not None:
            anchor, self._previous = self.anchors[self._epoch_start], None
            return self._measure(gray, points, head, anchor, distance,
                                 PHOTO_FORWARD_BACKWARD_PX)
        if anchor is None or (distance > REANCHOR_DEG
                              and self._previous_valid_share > 0.8
                              and len(self.anchors) - self._epoch_start < MAX_ANCHORS
                              and _eyes_open(points) and self._neutral_enough(expression)):
            anchor, distance = self._make_anchor(gray, points, matrix, head, frame), 0.0
        elif self._active is not None and anchor is not self._active:
            # Hysteresis: keep the current reference unless another is clearly nearer.
            active = float(np.hypot(pose.yaw - self._active.yaw, pose.pitch - self._active.pitch))
            if active < distance + SWITCH_MARGIN_DEG:
                anchor, distance = self._active, active
        if anchor is not self._active:
            self._active, self._previous = anchor, None  # a new reference: no chain across it
        return self._measure(gray, points, head, anchor, distance)

    def _measure(self, gray: np.ndarray, points: np.ndarray, head: np.ndarray,
                 anchor: Anchor, distance: float,
                 fb_px: float = FORWARD_BACKWARD_PX) -> FlowReading:
        xy = points[:, :2]
        # The picture is brought to the anchor's scale by the span of the eye corners (the
        # ridge's landmarks are too close together to tell scale well: a 5 % error misplaced
        # the eyes by 2-3 px on a soft video), turned and shifted by the ridge's landmarks; the
        # tracked ridge then corrects what is left.
        zoom = anchor.eye_span_px / _eye_span(xy)
        to_anchor = similarity_fit(xy[list(NASAL_RIDGE)], anchor.ridge_frame, scale=zoom)
        stabilise = _compose(anchor.to_working, to_anchor)
        working = normalise_contrast(working_picture(gray, stabilise, anchor.size))
        iod = _iod(xy)
        if any(anchor.eyes.get(side) is None for side in SIDES):  # else nothing left to model
            self._add_eyes(anchor, working, apply_affine(stabilise, xy), iod)
        landmark_guess = anchor.seeds + (apply_affine(stabilise, xy[SEED_INDICES])
                                         - anchor.landmark_seeds)
        n = len(SEED_INDICES)
        at_rest = self._at_rest(anchor, head, iod)
        previous_ok = (self._previous_ok if self._previous is not None
                       else np.zeros(n, dtype=bool))
        start = (np.where(previous_ok[:, None], self._previous_positions, landmark_guess)
                 if self._previous is not None else landmark_guess)
        # The anchor first (it cannot drift), starting from last frame's position.
        anchored = np.full((n, 2), np.nan)
        anchored_ok = np.zeros(n, dtype=bool)
        for rows, window in _WINDOWS:
            anchored[rows], anchored_ok[rows] = track(anchor.picture, working, anchor.seeds[rows],
                                                      start[rows], window, fb_px=fb_px)
        # The chain only where it can matter: a region that is moving (it may have deformed
        # away from the anchor's picture) or a patch the anchor lost.
        chained = np.full((n, 2), np.nan)
        chained_ok = np.zeros(n, dtype=bool)
        if self._previous is not None:
            for rows, window in _WINDOWS:
                # A patch the chain lost restarts from the landmarks' estimate.
                need = rows[~at_rest[rows] | ~anchored_ok[rows]]
                if len(need):
                    chained[need], chained_ok[need] = track(self._previous, working, start[need],
                                                            None, window, CHAIN_LEVELS)
        position, ok, used_anchor = choose_results(chained, chained_ok, anchored, anchored_ok,
                                                   at_rest)
        # Plausibility: a result far outside the landmarks' own estimate is a tracking failure.
        px_per_mm = anchor.scale / anchor.mm_per_px
        tolerance = BAND_MM * px_per_mm + BAND_SHARE * np.linalg.norm(
            landmark_guess - anchor.seeds, axis=1)
        implausible = ok & (np.linalg.norm(position - landmark_guess, axis=1) > tolerance)
        self.n_dropped += int(implausible.sum())
        ok &= ~implausible
        self._previous = working
        self._previous_positions = np.where(ok[:, None], position, landmark_guess)
        self._previous_ok = ok
        self._previous_valid_share = float(ok.mean())

        ridge = _RIDGE_ROWS[ok[_RIDGE_ROWS]]
        ridge_ok = len(ridge) >= 3
        # What is left of the head's motion in the stabilised picture, from the tracked ridge.
        head_motion = similarity_fit(anchor.seeds[ridge], position[ridge]) if ridge_ok else \
            similarity_fit(anchor.seeds[_RIDGE_ROWS], landmark_guess[_RIDGE_ROWS])
        shift = apply_affine(invert_affine(head_motion), position) - anchor.seeds
        shift[~ok] = np.nan
        groups, valid = {}, {}
        for name in MOVING_GROUPS:
            rows = _GROUP_ROWS[name]
            measured = ok[rows]
            valid[name] = float(measured.mean())
            groups[name] = (shift[rows][measured].mean(axis=0) / anchor.scale if measured.any()
                            else np.full(2, np.nan))
        lids: dict[str, LidReading | None] = {}
        for side in SIDES:
            model = anchor.eyes.get(side)
            if model is None:
                lids[side] = None
                continue
            reading = read_lid(model, sample_region(working, model, head_motion))
            lids[side] = LidReading(reading.narrowing / anchor.scale,
                                    reading.registration / anchor.scale,
                                    reading.lid_cost, reading.lower_cost)
        n_ok = max(int(ok.sum()), 1)
        return FlowReading(anchor.index, groups, valid, float(used_anchor[ok].sum() / n_ok), lids,
                           ridge_ok, distance)


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The (2, 3) affine ``outer ∘ inner``."""
    return (np.vstack([outer, [0, 0, 1]]) @ np.vstack([inner, [0, 0, 1]]))[:2]


def working_picture(gray: np.ndarray, to_working: np.ndarray, size: int) -> np.ndarray:
    """The square working picture: ``gray`` mapped by ``to_working`` (frame → working px).

    Only the region that maps into the square is read; when it is reduced by two or more it
    is first area-averaged by the whole factor (OpenCV's fast path), so that the bilinear
    resampling that follows does not alias.
    """
    inverse = invert_affine(to_working)
    corners = apply_affine(inverse, np.array([[0, 0], [size, 0], [0, size], [size, size]],
                                             dtype=float))
    height, width = gray.shape
    x0 = int(np.clip(np.floor(corners[:, 0].min()) - 2, 0, width - 1))
    y0 = int(np.clip(np.floor(corners[:, 1].min()) - 2, 0, height - 1))
    x1 = int(np.clip(np.ceil(corners[:, 0].max()) + 2, x0 + 1, width))
    y1 = int(np.clip(np.ceil(corners[:, 1].max()) + 2, y0 + 1, height))
    region = gray[y0:y1, x0:x1]
    linear = to_working[:, :2]
    shrink = float(np.sqrt(abs(np.linalg.det(linear))))
    factor = max(1, int(1.0 / max(shrink, 1e-6)))
    if factor > 1 and region.shape[0] >= factor and region.shape[1] >= factor:
        region = area_reduce(region, factor)
    else:
        factor = 1
    # region px (i) ↔ frame px x0 + factor * i + (factor - 1) / 2
    centre = (factor - 1) / 2
    to_frame = np.array([[factor, 0.0, x0 + centre], [0.0, factor, y0 + centre]])
    matrix = _compose(to_working, to_frame)
    return cv2.warpAffine(region, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


#: Whole reduction factors for which a box blur sampled at the blocks' centres is the faster
#: way to OpenCV's area average: 3x and 5x (0.07 and 0.09 ms against 0.27 and 0.20 ms for a
#: 700 px square region; a 3x reduction is what a face filling a 1080p frame needs). OpenCV
#: vectorises only the 2x area reduction, and the blur's cost does not fall with the factor.
_BOX_FACTORS = (3, 5)


def area_reduce(picture: np.ndarray, factor: int) -> np.ndarray:
    """Each ``factor`` × ``factor`` block of a uint8 picture averaged to one pixel (rounded),
    what ``cv2.resize(..., INTER_AREA)`` gives for a whole factor; a partial last row or column
    of blocks is left out.

    Parameters
    ----------
    picture : (H, W) uint8 ndarray
    factor : int
        Whole reduction factor, at least 1.

    Returns
    -------
    (H // factor, W // factor) uint8 ndarray
    """
    h, w = picture.shape[0] // factor, picture.shape[1] // factor
    blocks = picture[:h * factor, :w * factor]
    if factor in _BOX_FACTORS:
        # The same pixels to the bit: both round the block's sum times 1/factor² to nearest
        # (checked for every possible block sum).
        centre = factor // 2
        return cv2.blur(blocks, (factor, factor))[centre::factor, centre::factor]
    return cv2.resize(blocks, (w, h), interpolation=cv2.INTER_AREA)


def image_jacobian(rotation: np.ndarray) -> np.ndarray:
    """(2, 2) map from a head-plane displacement (X to the patient's left, Y up) to the image
    displacement it makes (x right, y down), for a head turned by ``rotation`` (see
    :func:`facescore.geometry.head_fixed`), before scale."""
    return np.array([[rotation[0, 0], rotation[0, 1]], [-rotation[1, 0], -rotation[1, 1]]])


def group_signals(groups: dict[str, np.ndarray]) -> dict[str, float]:
    """Per-side movement signals from head-plane group displacements.

    Parameters
    ----------
    groups : dict of str to (..., 2) ndarray
        Each moving group's displacement, (X toward the patient's left, Y up): one frame's,
        or many frames' stacked.

    Returns
    -------
    dict of str to float or (...) ndarray
        ``<signal>_<side>`` for each signal of :data:`DISPLACEMENT_COLUMNS` measured by flow
        (``lid_drop`` comes from the eye model).
    """
    out: dict = {}
    for side in SIDES:
        outward = 1.0 if side == "left" else -1.0
        brow, inner = groups[f"brow_{side}"], groups[f"brow_inner_{side}"]
        lower, mouth = groups[f"lower_lid_{side}"], groups[f"mouth_{side}"]
        out[f"brow_lift_{side}"] = brow[..., 1]
        out[f"brow_medial_{side}"] = -outward * inner[..., 0]
        out[f"lower_lid_rise_{side}"] = lower[..., 1]
        out[f"mouth_out_{side}"] = outward * mouth[..., 0]
        out[f"mouth_up_{side}"] = mouth[..., 1]
    return out


#: Displacement signals (without ``_left``/``_right``), positive in the direction named.
DISPLACEMENT_COLUMNS = {
    "brow_lift": "brow travel upward (negative: descent)",
    "brow_medial": "inner-brow travel toward the midline (knitting)",
    "lid_drop": "narrowing of the palpebral aperture: the upper lid's travel down toward the "
                "lower lid (eye model)",
    "lower_lid_rise": "central lower-lid travel upward",
    "mouth_out": "mouth-corner travel outward (toward the ear)",
    "mouth_up": "mouth-corner travel upward",
}


def landmark_signals(head: np.ndarray, head_reference: np.ndarray) -> dict[str, float]:
    """The same signals from head-fixed landmarks alone (the cross-check), px.

    Kept beside the flow signals: where the two disagree, the landmark model's pull toward
    symmetry is the usual cause. ``lid_drop`` here is the central upper lid's travel down.

    Parameters
    ----------
    head, head_reference : (478, 2 or 3) ndarray
        Head-fixed landmarks (X to the patient's left, Y up) now and in the reference, px,
        at the same scale.
    """
    shift = head[:, :2] - head_reference[:, :2]
    groups = {name: shift[rows].mean(axis=0) for name, rows in _LANDMARK_GROUPS.items()}
    out = {_LANDMARK_COLUMN[k]: v for k, v in group_signals(groups).items()}
    for side, upper in _UPPER_LID_CENTRE.items():
        out[f"lid_drop_lm_{side}"] = float(-shift[upper, 1].mean())
    return out


# Index lists and column names for landmark_signals, made once (it runs every frame).
_LANDMARK_GROUPS = {name: list(GROUPS[name]) for name in MOVING_GROUPS}
_UPPER_LID_CENTRE = {side: [u for u, _ in LID_CENTRE_PAIRS[side]] for side in SIDES}
_LANDMARK_COLUMN = {f"{signal}_{side}": f"{signal}_lm_{side}"
                    for signal in DISPLACEMENT_COLUMNS for side in SIDES}
