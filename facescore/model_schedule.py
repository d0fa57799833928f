"""Which frames the landmark model sees, and landmarks for the frames it does not.

The landmark model is the costliest step per frame, yet at 25 fps and above the face hardly
changes from one frame to the next: where it changes smoothly, landmarks interpolated between
two modelled frames are as good as the model's own (whose frame-to-frame jitter is larger than
the interpolation's error), and so are pixel measures blended between the modelled frames,
whose pixels are read (:func:`facescore.pipeline.interpolate_readings`).
:class:`SparseLandmarker` therefore runs the model on

- every frame while the face is being found (or was lost), and on every frame of a video
  slower than :data:`MIN_FPS`;
- one frame in every ``step`` (a *key frame*, at most :data:`KEY_GAP_S` apart);
- every frame between two key frames where interpolation would not hold: a face missing at
  either end; the landmarks moving more than :data:`MAX_KEY_MOTION_IOD` between them (a fast
  turn); or a frame whose eyes, brows or mouth look unlike the blend of the two key frames'
  (:func:`interpolation_residual` above :data:`MAX_RESIDUAL`: a blink, a twitch, a word)
  — the model runs on those frames after all, so no event is interpolated away.

The frames between are carried by their own pixels rather than by time alone: each key face
is moved by the similarity its rigid skin (nasal ridge, eye corners: :data:`CARRY_POINTS`)
made from the key frame to this frame, followed by Lucas-Kanade, and the two are blended
(:func:`carried_face`); where the skin cannot be followed, the faces are blended linearly
(:func:`interpolate_face`). And the model's region of interest on a frame modelled after a
gap is placed from the face in the frame just before it (carried there the same way), as it
would have been with every frame modelled: placed from a face a whole gap old, the crop sits
off the face when the head moves and the model's landmarks differ from its every-frame ones
(by 4.1 against 3.1 thousandths of the eye distance on the talking head).

Frames come out in order, each with its face (an interpolated one says so:
``face.interpolated``); a frame waits at most two key gaps for its landmarks (the next key
frame goes to the model before the gap before it is finished, so that the model works while
it is; with the model in a worker process that can place the key frame's region itself, even
before the face of the key frame before it has come back: ``track_carried_soon``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import cache

import cv2
import numpy as np

from .anatomy import IRIS_CENTRE
from .geometry import similarity_fit
from .motion import area_reduce
from .sources import Frame

#: Key frames are at most this far apart, s (4 frames at 30 fps, 3 at 25, 8 at 60).
KEY_GAP_S = 0.134
#: Videos slower than this (frames/s) get the model on every frame: there a gap of one frame
#: is already longer than a blink's closing.
MIN_FPS = 20.0
#: Landmarks moving further than this between two key frames (share of the distance between
#: the eyes, largest over the face) are not interpolated: the frames between are modelled.
MAX_KEY_MOTION_IOD = 0.05
#: Mean absolute difference (grey levels, 0-255) between a frame's face regions and the blend
#: of its two key frames' above which the frame is modelled rather than interpolated.
MAX_RESIDUAL = 2.0
#: Side of each face region's thumbnail, px.
THUMB_PX = 16
#: Landmarks on skin that the face's own movements hardly move — the nasal ridge and the
#: nose's sides, the inner and outer eye corners (held by the canthal tendons) — on which the
#: frames between two key frames are followed.
CARRY_POINTS = (6, 197, 195, 5, 4, 122, 351, 33, 133, 362, 263)
#: The skin is followed on the frame reduced by a whole factor to at least this many px
#: between the eyes.
CARRY_IOD_PX = 50.0
#: A followed point whose backward track ends further than this from its start (reduced px)
#: is not used; fewer than MIN_CARRIED points left and the frame is interpolated linearly.
CARRY_FB_PX = 0.5
MIN_CARRIED = 6

# Face regions compared between frames, as landmark indices (MediaPipe's mesh): each eye with
# its brow, and the mouth.
_REGIONS = {
    "left_eye": (336, 296, 334, 293, 300, 362, 263, 374, 386, 473),
    "right_eye": (107, 66, 105, 63, 70, 133, 33, 145, 159, 468),
    "mouth": (61, 291, 0, 17, 13, 14, 78, 308),
}


def region_boxes(points: np.ndarray, shape: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """Boxes (x0, y0, x1, y1), frame px, around each eye with its brow and around the mouth,
    padded by a fifth of the distance between the eyes and clipped to the frame."""
    height, width = shape
    iod = float(np.linalg.norm(points[IRIS_CENTRE["left"], :2] - points[IRIS_CENTRE["right"], :2]))
    pad = 0.2 * iod
    boxes = []
    for indices in _REGIONS.values():
        xy = points[list(indices), :2]
        x0, y0 = np.floor(xy.min(axis=0) - pad).astype(int)
        x1, y1 = np.ceil(xy.max(axis=0) + pad).astype(int)
        x0, x1 = int(np.clip(x0, 0, width - 1)), int(np.clip(x1, 1, width))
        y0, y1 = int(np.clip(y0, 0, height - 1)), int(np.clip(y1, 1, height))
        boxes.append((x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)))
    return boxes


def thumbnails(gray: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """Each box of ``gray`` shrunk to THUMB_PX × THUMB_PX (area average), float32, stacked:
    shape (n_boxes, THUMB_PX, THUMB_PX), grey levels."""
    out = np.empty((len(boxes), THUMB_PX, THUMB_PX), dtype=np.float32)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        region = gray[y0:y1, x0:x1]
        step = max(1, min(region.shape) // (4 * THUMB_PX))  # thin out big regions first: cheap
        out[i] = cv2.resize(region[::step, ::step], (THUMB_PX, THUMB_PX),
                            interpolation=cv2.INTER_AREA)
    return out


def interpolation_residual(thumb: np.ndarray, before: np.ndarray, after: np.ndarray,
                           weight: float) -> float:
    """How unlike the blend of its two key frames a frame looks: the largest, over the face
    regions, of the mean absolute difference (grey levels) between the frame's thumbnail and
    ``(1 - weight) * before + weight * after``."""
    blend = (1.0 - weight) * before + weight * after
    return float(np.abs(thumb - blend).mean(axis=(1, 2)).max())


def key_motion_iod(before: np.ndarray, after: np.ndarray) -> float:
    """Largest landmark displacement between two faces' points, in inter-ocular distances."""
    iod = float(np.linalg.norm(before[IRIS_CENTRE["left"], :2]
                               - before[IRIS_CENTRE["right"], :2]))
    return float(np.linalg.norm(after[:, :2] - before[:, :2], axis=1).max() / max(iod, 1e-6))


def interpolate_face(before, after, weight: float):
    """The face a fraction ``weight`` (0-1) of the way from ``before`` to ``after``: points,
    transformation matrix and expression scores blended linearly (the two faces are at most a
    key gap apart, where a rotation's blend differs from the rotation by well under 0.1°)."""
    points = (1.0 - weight) * before.points + weight * after.points
    matrix = (1.0 - weight) * before.matrix + weight * after.matrix
    shapes = {name: (1.0 - weight) * score + weight * after.blendshapes.get(name, score)
              for name, score in before.blendshapes.items()}
    return replace(before, points=points, matrix=matrix, blendshapes=shapes, interpolated=True)


class Carrier:
    """Follows the rigid skin of one key gap from a key frame to the frames around it.

    ``points``: a key face's landmarks (frame px), which place the region followed (the face's
    box padded by 0.6 of the eye distance: a key gap's motion is at most
    :data:`MAX_KEY_MOTION_IOD`); ``shape``: the frames' (height, width).
    """

    def __init__(self, points: np.ndarray, shape: tuple[int, int]):
        iod = float(np.linalg.norm(points[IRIS_CENTRE["left"], :2]
                                   - points[IRIS_CENTRE["right"], :2]))
        height, width = shape
        xy = points[list(CARRY_POINTS), :2]
        pad = 0.6 * iod
        x0, y0 = np.floor(xy.min(axis=0) - pad).astype(int)
        x1, y1 = np.ceil(xy.max(axis=0) + pad).astype(int)
        self.x0, self.x1 = int(np.clip(x0, 0, width - 1)), int(np.clip(x1, 1, width))
        self.y0, self.y1 = int(np.clip(y0, 0, height - 1)), int(np.clip(y1, 1, height))
        self.factor = max(1, int(iod / CARRY_IOD_PX))

    def picture(self, frame: Frame) -> np.ndarray:
        """The frame's region, reduced by the whole factor (uint8)."""
        gray = frame.gray if frame.gray is not None else cv2.cvtColor(frame.rgb,
                                                                      cv2.COLOR_RGB2GRAY)
        region = gray[self.y0:self.y1, self.x0:self.x1]
        return area_reduce(region, self.factor) if self.factor > 1 else region

    def _reduced(self, xy: np.ndarray) -> np.ndarray:
        centre = (self.factor - 1) / 2
        return ((xy - [self.x0 + centre, self.y0 + centre]) / self.factor).astype(np.float32)

    def _frame(self, xy: np.ndarray) -> np.ndarray:
        centre = (self.factor - 1) / 2
        return xy.astype(float) * self.factor + [self.x0 + centre, self.y0 + centre]

    def similarity(self, source: np.ndarray, target: np.ndarray, points: np.ndarray
                   ) -> np.ndarray | None:
        """The similarity (2, 3), frame px, taking the skin at :data:`CARRY_POINTS` of
        ``points`` (landmarks in ``source``, a :meth:`picture`) to where it is in ``target``;
        forward-backward checked, and fitted again without the points the first fit leaves
        furthest off, where it leaves any. None where too few points hold."""
        if min(source.shape) < 8 or source.shape != target.shape:
            return None
        start = self._reduced(points[list(CARRY_POINTS), :2])
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.01)
        forward, ok, _ = cv2.calcOpticalFlowPyrLK(source, target, start, None, winSize=(11, 11),
                                                  maxLevel=2, criteria=criteria)
        back, ok_back, _ = cv2.calcOpticalFlowPyrLK(target, source, forward, None,
                                                    winSize=(11, 11), maxLevel=2,
                                                    criteria=criteria)
        good = (ok.ravel() == 1) & (ok_back.ravel() == 1) & (
            np.linalg.norm(back - start, axis=1) < CARRY_FB_PX)
        if good.sum() < MIN_CARRIED:
            return None
        src, dst = self._frame(start[good]), self._frame(forward[good])
        fit = similarity_fit(src, dst)
        residual = np.linalg.norm(src @ fit[:, :2].T + fit[:, 2] - dst, axis=1)
        floor = CARRY_FB_PX * self.factor
        keep = residual <= floor
        if not keep.all():
            keep = residual <= max(3.0 * float(np.median(residual)), floor)
        # Every point kept (99 % of the calls on an exam): the refit would take the same
        # points to the same fit, so it is not made.
        if keep.all() or keep.sum() < MIN_CARRIED:
            return fit
        return similarity_fit(src[keep], dst[keep])


def moved_points(points: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """Landmarks (n, 3), frame px, moved by the similarity ``fit`` (2, 3): x and y mapped, depth
    scaled by the similarity's scale."""
    moved = points.copy()
    moved[:, :2] = points[:, :2] @ fit[:, :2].T + fit[:, 2]
    moved[:, 2] *= float(np.sqrt(abs(np.linalg.det(fit[:, :2]))))
    return moved


def carried_face(before, after, weight: float, moves: tuple[np.ndarray, np.ndarray]):
    """The face a fraction ``weight`` (0-1) of the way from ``before`` to ``after`` (two key
    frames' faces), carried by the pixels: each key face's points moved by the similarity its
    skin made from its key frame to this frame (``moves``, as :meth:`Carrier.similarity`),
    the two blended by ``weight``. Pose and expression scores are blended as in
    :func:`interpolate_face` (turning the pose by the carried points' own turn in the picture
    was tried: its roll then differed more from the model's, 0.11° against 0.09°)."""
    linear = interpolate_face(before, after, weight)
    moved = [moved_points(face.points, fit) for face, fit in zip((before, after), moves,
                                                                   strict=True)]
    return replace(linear, points=(1.0 - weight) * moved[0] + weight * moved[1])


@dataclass(frozen=True)
class Carry:
    """A key face's skin followed to a later frame where the model runs
    (:meth:`SkinSource.carry`): the work :class:`_Gap` would otherwise do again for the frame
    before the next key frame.

    Attributes
    ----------
    key_picture, picture : 2-D uint8 ndarray
        The key frame's and the later frame's :meth:`Carrier.picture`.
    fit : (2, 3) ndarray
        The similarity the skin made between them, frame px (:meth:`Carrier.similarity`).
    """

    key_picture: np.ndarray
    picture: np.ndarray
    fit: np.ndarray


class SkinSource:
    """A modelled face kept so that its landmarks can be carried by the skin to a later frame
    after its own frame is gone (the picture kept is the :class:`Carrier`'s reduced region).

    ``points``: the face's landmarks (frame px); ``frame``: the frame it was modelled on;
    ``picture``: its :meth:`Carrier.picture`, when made already (:class:`Carry`).
    """

    def __init__(self, points: np.ndarray, frame: Frame, picture: np.ndarray | None = None):
        self.points = points
        self.carrier = Carrier(points, frame.shape)
        # (a copy: else a view of a reused buffer)
        self.picture = self.carrier.picture(frame).copy() if picture is None else picture

    def fit_to(self, picture: np.ndarray) -> np.ndarray | None:
        """The similarity (2, 3), frame px, the skin made from the kept frame to a frame whose
        :meth:`Carrier.picture` is ``picture`` (None where it cannot be followed)."""
        return self.carrier.similarity(self.picture, picture, self.points)

    def carry(self, frame: Frame) -> Carry | None:
        """The skin followed from the kept frame to ``frame`` (None where it cannot be): the
        worker places a key frame's region with it (:meth:`carried`), and hands it to the
        schedule, whose :meth:`_Gap.carried_to_before` would find the same."""
        picture = self.carrier.picture(frame)
        fit = self.fit_to(picture)
        return None if fit is None else Carry(self.picture, picture, fit)

    def carried(self, carry: Carry) -> np.ndarray:
        """The landmarks moved as the skin moved (``carry``: from :meth:`carry`)."""
        return moved_points(self.points, carry.fit)


def key_step(fps: float | None) -> int:
    """Frames from one key frame to the next at this frame rate (1: every frame modelled)."""
    if fps is None or not np.isfinite(fps) or fps < MIN_FPS:
        return 1
    return max(1, int(np.floor(KEY_GAP_S * fps + 1e-6)))


class SparseLandmarker:
    """Landmarks for every frame of a stream, from the model on as few frames as hold them.

    Parameters
    ----------
    track : callable
        ``track(frame) -> face or None``: the landmark model with its tracking state (e.g.
        :meth:`facescore.landmarks.FaceTracker.track`). Called in frame order except for the
        frames between two key frames, which are modelled after the later key frame (and,
        with ``near``, after the key frame after it) when interpolation does not hold.
    step : int
        Frames from one key frame to the next (:func:`key_step`); 1 models every frame.
    near : bool
        ``track`` takes a second argument, ``near``: the landmarks of the face in the frame
        before, given where the last frame modelled was not that one
        (:meth:`facescore.landmarks.FaceTracker.track`).
    track_soon : callable, optional
        ``track_soon(frame[, near]) -> callable``: hands the frame to a model that runs
        elsewhere (:meth:`facescore.landmark_worker.LandmarkWorker.track_soon`) and returns at
        once; calling what it returns waits for the face. Given, each key frame's model call
        runs while the skin is carried to the frames before it; the model sees the same frames
        in the same order either way.
    track_carried_soon : callable, optional
        ``track_carried_soon(frame, before, source) -> (carry, answer)``: as ``track_soon``,
        the frame's region of interest placed where the model runs, from the face it found in
        the frame numbered ``source`` carried by the skin to the frame ``before`` (as
        :meth:`_Gap.carried_to_before` carries it here); ``carry()`` waits for that
        :class:`Carry` (None where the skin could not be followed or that frame had no face),
        which this side then uses rather than finding it again; ``answer()`` waits for
        ``(carried, face)``, ``carried`` False (and the frame not modelled) where ``carry()``
        is None. Given (with ``near``), each key frame goes to the model before the face of
        the key frame before it has come back, so the model does not wait for this side to
        place its region; it sees the same frames in the same order, with the same regions.

    Feed frames with :meth:`feed` (each call returns the frames now complete, in order) and
    call :meth:`flush` after the last one.
    """

    def __init__(self, track: Callable[..., object], step: int, near: bool = False,
                 track_soon: Callable[..., Callable[[], object]] | None = None,
                 track_carried_soon: Callable[..., tuple[Callable[[], Carry | None],
                                                         Callable[[], tuple[bool, object]]]]
                 | None = None):
        self.track = track
        self.track_soon = track_soon
        self.track_carried_soon = track_carried_soon if near else None
        self.near = near
        self.step = max(1, int(step))
        self._key: tuple[Frame, object, np.ndarray | None, list] | None = None
        self._waiting: list[Frame] = []
        #: The gap whose last frame the model has been handed, not yet finished.
        self._open: _Gap | None = None

    def _model(self, frame: Frame, before: Callable[[], np.ndarray | None]):
        """The model on ``frame``; ``before``: how to get the landmarks of the face in the frame
        before it (the model's, carried or interpolated; None when they cannot be had), asked
        only when the model takes them."""
        return self._model_soon(frame, before)()

    def _model_soon(self, frame: Frame, before: Callable[[], np.ndarray | None]
                    ) -> Callable[[], object]:
        """:meth:`_model` begun: call what it returns for the face."""
        points = before() if self.near else None
        args = (frame,) if points is None else (frame, points)
        if self.track_soon is not None:
            return self.track_soon(*args)
        face = self.track(*args)
        return lambda: face

    def _thumbs(self, frame: Frame, boxes) -> np.ndarray | None:
        if boxes is None:
            return None
        gray = frame.gray if frame.gray is not None else cv2.cvtColor(frame.rgb,
                                                                      cv2.COLOR_RGB2GRAY)
        return thumbnails(gray, boxes)

    def _set_key(self, frame: Frame, face) -> None:
        boxes = region_boxes(face.points, frame.shape) if face is not None else None
        self._key = (frame, face, self._thumbs(frame, boxes), boxes)

    def feed(self, frame: Frame) -> list[tuple[Frame, object]]:
        """Take the next frame; return the frames whose landmarks are now known, in order."""
        if self._open is None and (self._key is None or self._key[1] is None
                                   or self.step == 1):
            # No face to interpolate from: the model looks at every frame until it finds one.
            face = self._model(frame, lambda: None)
            self._set_key(frame, face)
            return [(frame, face)]
        self._waiting.append(frame)
        if len(self._waiting) < self.step:
            return []
        return self._next_gap()

    def flush(self) -> list[tuple[Frame, object]]:
        """The frames still waiting (after the last frame): the last one is modelled as a key
        frame and the others interpolated or modelled as usual."""
        out: list[tuple[Frame, object]] = []
        if self._open is not None:
            gap, self._open = self._open, None
            self._set_key(gap.frame, gap.face())
            out = self._close(gap)
        waiting, self._waiting = self._waiting, []
        if waiting and self._key[1] is not None:
            gap = self._begin(self._gap_to(waiting))
            self._set_key(gap.frame, gap.face())
            return out + self._close(gap)
        for frame in waiting:  # no face to interpolate from
            out += self.feed(frame)
        return out

    def _next_gap(self) -> list[tuple[Frame, object]]:
        """A gap's frames have all come: its key frame goes to the model before the frames of
        the gap before it are finished (those need that gap's key face; this one needs only
        the face of the key frame it starts from), so the model works while they are."""
        previous, self._open = self._open, None
        waiting, self._waiting = self._waiting, []
        # This gap's key frame goes to the model before the last one's face is back; where
        # the model runs, its region is placed as _begin would place it (or it is not modelled).
        ahead = (self.track_carried_soon(waiting[-1], waiting[-2], previous.frame.index)
                 if previous is not None and self.track_carried_soon is not None
                 and len(waiting) > 1 else None)
        if previous is not None:
            self._set_key(previous.frame, previous.face())
        out: list[tuple[Frame, object]] = []
        carry_soon, answer = ahead if ahead is not None else (None, None)
        if self._key[1] is None:  # the last key frame had no face: model each frame until one
            if answer is not None:
                answer()  # not modelled (no face to carry from): its answer read and dropped
            out = self._close(previous) if previous is not None else []
            for frame in waiting:
                out += self.feed(frame)
            return out
        if carry_soon is not None:
            # This key frame is with the model already, so finishing the gap before first
            # keeps the model's order; meanwhile the model's side follows the skin to the
            # frame before this key frame, which is then not followed again here.
            out = self._close(previous)
            carry = carry_soon()
            if carry is None:
                answer()  # not modelled: the skin could not be followed there either
                answer = None
            self._open = self._begin(self._gap_to(waiting, carry), answer)
            return out
        gap = self._gap_to(waiting)
        if previous is not None and not (self.near and gap.carried_to_before() is not None):
            # The model's crop then follows the last face it found, which must be the face
            # found last in frame order: the gap before is finished first.
            out, previous = self._close(previous), None
        self._open = self._begin(gap)
        return out + self._close(previous) if previous is not None else out

    def _gap_to(self, frames: list[Frame], carry: Carry | None = None) -> _Gap:
        """The gap from the current key frame (its face known) to the last of ``frames``
        (``carry``: its skin followed to the frame before the last, found already)."""
        return _Gap(*self._key, between=frames[:-1], frame=frames[-1], carry=carry)

    def _begin(self, gap: _Gap, ahead: Callable[[], tuple[bool, object]] | None = None) -> _Gap:
        """``gap``'s last frame handed to the model, its region of interest placed from the face
        in the frame before it (carried there by the skin); ``ahead``: it was handed already
        (:meth:`_next_gap`), modelled."""
        if ahead is None:
            gap.face = cache(self._model_soon(gap.frame, gap.carried_to_before))  # asked twice
        else:
            # Carried there as here (the same SkinSource on the same numbers), so modelled.
            # Nothing that refers to the gap goes in this closure: held by the gap, it would
            # keep the gap's frames until the garbage collector next ran (~0.4 GB at 1080p).
            gap.face = cache(lambda: ahead()[1])
        # While the model runs: what does not need its answer (the key face's skin carried to
        # every frame between, asked for below unless a frame is modelled after all).
        for middle in gap.between:
            gap.fit_from_key(middle)
        return gap

    def _close(self, gap: _Gap) -> list[tuple[Frame, object]]:
        """The frames of ``gap`` with their faces: carried from its two key frames where the
        frame looks like their blend, modelled where not."""
        face = gap.face()
        thumbs = self._thumbs(gap.frame, gap.boxes)
        holds = face is not None and key_motion_iod(gap.key_face.points, face.points) \
            <= MAX_KEY_MOTION_IOD
        out = []
        span = gap.frame.t_s - gap.key_frame.t_s
        for middle in gap.between:
            weight = (middle.t_s - gap.key_frame.t_s) / span if span > 0 else 0.5
            if holds and interpolation_residual(self._thumbs(middle, gap.boxes), gap.key_thumbs,
                                                thumbs, weight) <= MAX_RESIDUAL:
                moves = (gap.fit_from_key(middle),
                         gap.skin.carrier.similarity(gap.picture(gap.frame), gap.picture(middle),
                                                face.points))
                out.append((middle, carried_face(gap.key_face, face, weight, moves)
                            if moves[0] is not None and moves[1] is not None
                            else interpolate_face(gap.key_face, face, weight)))
            else:
                previous = out[-1][1] if out else gap.key_face
                out.append((middle, self._model(
                    middle, lambda p=previous: None if p is None else p.points)))
        out.append((gap.frame, face))
        return out


class _Gap:
    """The frames from one key frame (its face known) to the next, with the skin followed
    between them (:class:`SkinSource`, each frame's picture and fit made once)."""

    def __init__(self, key_frame: Frame, key_face, key_thumbs: np.ndarray | None, boxes,
                 between: list[Frame], frame: Frame, carry: Carry | None = None):
        self.key_frame, self.key_face, self.key_thumbs, self.boxes = (key_frame, key_face,
                                                                      key_thumbs, boxes)
        self.between, self.frame = between, frame
        self.face: Callable[[], object] = lambda: None  # the model's answer for ``frame``
        self.skin = SkinSource(key_face.points, key_frame,
                               None if carry is None else carry.key_picture)
        self._pictures: dict[int, np.ndarray] = {}
        self._from_key: dict[int, np.ndarray | None] = {}
        if carry is not None:  # the skin followed to the frame before ``frame`` already
            self._pictures[between[-1].index] = carry.picture
            self._from_key[between[-1].index] = carry.fit

    def picture(self, f: Frame) -> np.ndarray:
        if f.index not in self._pictures:
            self._pictures[f.index] = self.skin.carrier.picture(f)
        return self._pictures[f.index]

    def carried_to_before(self) -> np.ndarray | None:
        """The key face's landmarks carried to the frame before :attr:`frame` (None where the
        skin could not be followed there)."""
        fit = self.fit_from_key(self.between[-1]) if self.between else None
        return None if fit is None else moved_points(self.skin.points, fit)

    def fit_from_key(self, f: Frame) -> np.ndarray | None:
        """The key face's skin carried to ``f`` (once a frame: the model's crop and the
        frames between both ask for the frame before the next key frame)."""
        if f.index not in self._from_key:
            self._from_key[f.index] = self.skin.fit_to(self.picture(f))
        return self._from_key[f.index]


def landmark_sparsely(frames: Iterable[Frame], landmarker: SparseLandmarker
                      ) -> Iterator[tuple[Frame, object]]:
    """Every frame of ``frames`` with its landmarks, in order (see :class:`SparseLandmarker`)."""
    for frame in frames:
        yield from landmarker.feed(frame)
    yield from landmarker.flush()
