"""Face landmarks from MediaPipe's Face Landmarker: the only module that imports mediapipe.

The stock detector sees a 128 px thumbnail of the whole frame and misses faces narrower than
about a fifth of a 16:9 frame. :class:`FaceTracker` therefore *searches* for the face on the full
frame and then on overlapping square tiles, picks the largest and most central face, and from
then on *tracks* a square region of interest around it: each frame the region is cropped,
resized and handed to the landmarker, and the next region is taken from the landmarks just
found. When the face is lost, the search runs again.

The landmarker runs in IMAGE mode on every crop, not VIDEO mode. VIDEO mode filters the
landmarks over time: on a talking head they lagged the head by 1.6 px (median, up to 4.7 px) and
drifted slowly at rest, and it blunts blinks. IMAGE mode on the same crop costs the same here
(7.2-7.4 ms a frame against 7.3-9.2 ms on five real clips) and its landmarks belong to their own
frame; their jitter is left to the measuring, which uses landmarks only to locate.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.abc
import importlib.util
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from .model import verified_model_path
from .sources import Frame

#: While no face is tracked, the whole-frame search runs on every this-many-th frame.
SEARCH_EVERY = 5


@dataclass(frozen=True)
class FaceObservation:
    """One face in one frame.

    Attributes
    ----------
    points : (478, 3) float ndarray
        Landmarks in frame pixels: x right, y down, z depth (toward the camera is negative) on
        the same pixel scale as x.
    matrix : (4, 4) float ndarray
        MediaPipe's facial transformation matrix (canonical face → camera space).
    blendshapes : dict of str to float
        The 52 blendshape scores (0–1); ``...Left``/``...Right`` name the subject's sides.
    interpolated : bool
        Blended from the model's faces in two nearby frames rather than seen by the model in
        this one (:mod:`facescore.model_schedule`).
    """

    points: np.ndarray
    matrix: np.ndarray
    blendshapes: dict[str, float] = field(default_factory=dict)
    interpolated: bool = False

    @property
    def width_px(self) -> float:
        """Width of the landmark cloud in frame pixels."""
        return float(np.ptp(self.points[:, 0]))


#: fd 2 belongs to the whole process: two threads silencing it at once (the clinic app warms
#: up in one thread while a session starts in another) would each restore what the other had
#: put there, and could leave the process's stderr at /dev/null.
_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the C++ start-up chatter MediaPipe and TFLite write straight to fd 2."""
    with _STDERR_LOCK:
        try:
            saved = os.dup(2)
        except OSError:
            yield
            return
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                os.close(saved)


class _NotDrawing(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Empty modules in place of mediapipe's drawing helpers while its vision package loads.

    The package imports them, and they import matplotlib.pyplot: ~0.3 s of the ~0.4 s that
    importing mediapipe costs, at the start of the landmark worker, which the first frame
    waits for. The landmarker never draws."""

    NAMES = ("mediapipe.tasks.python.vision.drawing_utils",
             "mediapipe.tasks.python.vision.drawing_styles")

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in self.NAMES else None

    def create_module(self, spec):
        return None  # the default, empty module

    def exec_module(self, module) -> None:
        pass


def _import_mediapipe() -> None:
    """Import mediapipe's tasks without the drawing helpers (:class:`_NotDrawing`); whoever
    imports those later gets the real modules. Called by :func:`_create` only, under
    :func:`_quiet_stderr`'s lock: one thread at a time puts the finder in place."""
    if "mediapipe.tasks.python.vision" in sys.modules:
        return
    finder = _NotDrawing()
    sys.meta_path.insert(0, finder)
    try:
        import mediapipe.tasks.python.vision  # noqa: F401
    finally:
        sys.meta_path.remove(finder)
        package = sys.modules.get("mediapipe.tasks.python.vision")
        for name in _NotDrawing.NAMES:
            if getattr(sys.modules.get(name), "__loader__", None) is finder:
                del sys.modules[name]
                with contextlib.suppress(AttributeError):
                    delattr(package, name.rsplit(".", 1)[1])


def _quiet_cut_short_images(previous: Callable[[object], object]) -> Callable[[object], None]:
    """A ``sys.unraisablehook`` that says nothing of a MediaPipe ``Image`` whose construction
    an interrupt cut short (Ctrl-C during a live session's model call): its finaliser finds no
    picture to free and raises AttributeError, which Python would print as a traceback after
    "facescore: interrupted". Everything else goes to ``previous``."""
    def hook(unraisable: object) -> None:
        finaliser = getattr(unraisable, "object", None)
        error = getattr(unraisable, "exc_value", None)
        if (isinstance(error, AttributeError) and "_image_ptr" in str(error)
                and getattr(finaliser, "__qualname__", "") == "Image.__del__"
                and getattr(finaliser, "__module__", "").startswith("mediapipe.")):
            return
        previous(unraisable)

    hook.quiets_cut_short_images = True
    return hook


def _create(running_mode: str, num_faces: int, blendshapes: bool, model_path):
    os.environ.setdefault("GLOG_minloglevel", "2")
    with _quiet_stderr():
        _import_mediapipe()
        if not getattr(sys.unraisablehook, "quiets_cut_short_images", False):
            sys.unraisablehook = _quiet_cut_short_images(sys.unraisablehook)
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model_path)),
            running_mode=getattr(vision.RunningMode, running_mode),
            num_faces=num_faces,
            min_face_detection_confidence=0.5,
            min_face_presence_confidence=0.5,
            min_tracking_confidence=0.5,
            output_face_blendshapes=blendshapes,
            output_facial_transformation_matrixes=True,
        )
        landmarker = vision.FaceLandmarker.create_from_options(options)
        # The graph opens its calculators on threads of its own, which log as they open;
        # that creation waits for every one is not promised (a batch stopped on a busy machine
        # once printed two of their lines). One detection does wait for every calculator on
        # the way to a result: their chatter lands here, silenced.
        landmarker.detect(_mp_image(np.zeros((64, 64, 3), dtype=np.uint8)))
        return landmarker


def _mp_image(rgb: np.ndarray):
    import mediapipe as mp

    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))


@dataclass(frozen=True)
class _Found:
    """One face as the landmarker returns it: ``normalized`` (n, 3) float64, x and y as
    fractions of the picture, z on x's scale; ``matrix`` (4, 4) or None; blendshape scores."""

    normalized: np.ndarray
    matrix: np.ndarray | None
    blendshapes: dict[str, float]


def _detect(landmarker, image) -> list[_Found]:
    """The faces ``landmarker`` finds in ``image`` (an ``mp.Image``).

    Read from MediaPipe's C result directly where its wrapper is laid out as expected: the
    wrapper's own reading makes a Python object of each of the 478 landmarks, ~0.65 ms of a
    ~10 ms call. The numbers are the same (the C floats widened to float64, as the wrapper's
    Python floats are); elsewhere the wrapper's result is read.
    """
    try:
        from mediapipe.tasks.python.vision.face_landmarker import MpFaceLandmarkerResultC

        lib, handle, image_ptr = landmarker._lib, landmarker._handle, image._image_ptr
    except (ImportError, AttributeError):
        return _found_in(landmarker.detect(image))
    result = MpFaceLandmarkerResultC()
    lib.MpFaceLandmarkerDetectImage(handle, image_ptr, None, ctypes.byref(result))
    try:
        return [_Found(_landmarks(result.face_landmarks[i]),
                       (np.asarray(result.facial_transformation_matrixes[i].to_numpy(),
                                   dtype=np.float64)
                        if i < result.facial_transformation_matrixes_count else None),
                       (_scores(result.face_blendshapes[i])
                        if i < result.face_blendshapes_count else {}))
                for i in range(result.face_landmarks_count)]
    finally:
        lib.MpFaceLandmarkerCloseResult(ctypes.byref(result))


def _landmarks(landmarks_c) -> np.ndarray:
    """(n, 3) float64 x, y, z of one face's C landmark list (copied: it is freed after)."""
    n = landmarks_c.landmarks_count
    if n == 0:
        return np.empty((0, 3))
    layout = _xyz_layout(landmarks_c.landmarks._type_)
    address = ctypes.cast(landmarks_c.landmarks, ctypes.c_void_p).value
    records = np.frombuffer((ctypes.c_char * (n * layout.itemsize)).from_address(address),
                            dtype=layout)
    return np.stack([records["x"], records["y"], records["z"]], axis=1).astype(np.float64)


@functools.cache
def _xyz_layout(record: type) -> np.dtype:
    """The numpy view of a C landmark struct's x, y and z (numpy cannot take its string
    field as a type)."""
    return np.dtype({"names": ["x", "y", "z"], "formats": [np.float32] * 3,
                     "offsets": [record.x.offset, record.y.offset, record.z.offset],
                     "itemsize": ctypes.sizeof(record)})


def _scores(categories_c) -> dict[str, float]:
    """Blendshape name → score of one face's C category list."""
    scores = {}
    for j in range(categories_c.categories_count):
        category = categories_c.categories[j]
        name = category.category_name
        scores[name.decode("utf-8") if name is not None else None] = float(category.score)
    return scores


def _found_in(result) -> list[_Found]:
    """:func:`_detect`'s faces from the wrapper's result."""
    return [_Found(np.array([(p.x, p.y, p.z) for p in landmarks], dtype=np.float64),
                   (np.asarray(result.facial_transformation_matrixes[i], dtype=np.float64)
                    if result.facial_transformation_matrixes else None),
                   ({b.category_name: float(b.score) for b in result.face_blendshapes[i]}
                    if result.face_blendshapes else {}))
            for i, landmarks in enumerate(result.face_landmarks)]


def _observations(found: list[_Found], x0: float, y0: float, scale_x: float, scale_y: float):
    """Map the faces found on a crop back to frame pixels."""
    faces = []
    for face in found:
        normalized = face.normalized
        points = np.empty_like(normalized)
        points[:, 0] = x0 + normalized[:, 0] * scale_x
        points[:, 1] = y0 + normalized[:, 1] * scale_y
        points[:, 2] = normalized[:, 2] * scale_x
        matrix = face.matrix if face.matrix is not None else np.eye(4)
        faces.append(FaceObservation(points, matrix, face.blendshapes))
    return faces


def crop_square(frame: Frame, cx: float, cy: float, size: float, out_px: int):
    """Cut a square of side ``size`` px around (cx, cy), resized so its side is ``out_px``, RGB.

    The square is slid inside the frame where it fits (the landmarker does not need the face
    centred) and trimmed to the frame where it does not, so no pixels are invented or copied
    for padding. The result keeps the aspect ratio of what was cut.

    Returns
    -------
    crop : (h, w, 3) uint8 ndarray or None
    box : (x0, y0, width, height)
        The cut region in frame pixels.
    """
    height, width = frame.shape
    side = int(round(size))
    x0 = min(max(int(round(cx - size / 2)), 0), max(width - side, 0))
    y0 = min(max(int(round(cy - size / 2)), 0), max(height - side, 0))
    x1, y1 = min(x0 + side, width), min(y0 + side, height)
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None, (x0, y0, x1 - x0, y1 - y0)
    scale = out_px / side
    # Even sizes, so a video frame's 4:2:0 planes convert without another resize. Bilinear:
    # the landmarker resamples its input again, to 256 px, bilinearly.
    out_size = (max(2, 2 * round((x1 - x0) * scale / 2)), max(2, 2 * round((y1 - y0) * scale / 2)))
    crop = frame.region_rgb(x0, y0, x1 - x0, y1 - y0, out_size)
    return crop, (x0, y0, x1 - x0, y1 - y0)


def search_windows(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Windows (x0, y0, w, h) to look for a face in: the frame, then square tiles of two sizes.

    Tiles overlap by half so that any face smaller than half a tile lies wholly inside one.
    """
    windows = [(0, 0, width, height)]
    short = min(width, height)
    for side in (short, short // 2):
        if side < 64:
            continue
        step = side // 2
        xs = list(range(0, max(width - side, 0) + 1, step)) or [0]
        ys = list(range(0, max(height - side, 0) + 1, step)) or [0]
        if xs[-1] != width - side:
            xs.append(max(width - side, 0))
        if ys[-1] != height - side:
            ys.append(max(height - side, 0))
        windows += [(x, y, side, side) for y in ys for x in xs if (side, side) != (width, height)]
    return windows


def choose_face(faces: list[FaceObservation], width: int, height: int) -> FaceObservation:
    """The face to follow: the largest, discounted by its distance from the frame centre."""
    centre = np.array([width / 2, height / 2])
    diagonal = float(np.hypot(width, height))

    def score(face: FaceObservation) -> float:
        offset = np.linalg.norm(face.points[:, :2].mean(axis=0) - centre) / diagonal
        return face.width_px * (1.0 - offset)

    return max(faces, key=score)


def _deduplicate(faces: list[FaceObservation]) -> list[FaceObservation]:
    """One observation per face: the first found (windows run from the full frame down, and
    the landmarker is most accurate when it sees the most context)."""
    kept: list[FaceObservation] = []
    for face in faces:
        centre = face.points[:, :2].mean(axis=0)
        if all(np.linalg.norm(centre - k.points[:, :2].mean(axis=0)) > 0.3 * k.width_px
               for k in kept):
            kept.append(face)
    return kept


class FaceTracker:
    """Follows one face through a stream of frames.

    Parameters
    ----------
    model_path : str or Path, optional
        The Face Landmarker bundle; defaults to the verified copy in ``models/``.
    blendshapes : bool
        Also return the 52 blendshape scores.
    crop_px : int
        Side of the square crop handed to the landmarker while tracking, in px.
    roi_scale : float
        Region of interest side as a multiple of the landmark cloud's larger extent.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, model_path=None, blendshapes: bool = True, crop_px: int = 384,
                 roi_scale: float = 1.9):
        path = verified_model_path(model_path)
        self._crop_model = _create("IMAGE", 1, blendshapes, path)
        self._image = _create("IMAGE", 4, False, path)
        self.crop_px = crop_px
        self.roi_scale = roi_scale
        self._roi: tuple[float, float, float] | None = None
        self._frames_since_search = SEARCH_EVERY
        self.n_faces_seen = 0  # most faces seen at once during a search

    # --- search ---------------------------------------------------------------------------
    def search(self, rgb: np.ndarray) -> list[FaceObservation]:
        """All faces found on the full frame and on every tile, in frame pixels (no tracking).

        Every window is searched, even after a face is found, so that a second face anywhere
        in the frame is seen (and counted in :attr:`n_faces_seen`).
        """
        height, width = rgb.shape[:2]
        found: list[FaceObservation] = []
        for x0, y0, w, h in search_windows(width, height):
            tile = rgb[y0:y0 + h, x0:x0 + w]
            if max(w, h) > 640:  # the detector sees 128 px anyway; spare the resize work
                scale = 640 / max(w, h)
                tile = cv2.resize(tile, (round(w * scale), round(h * scale)),
                                  interpolation=cv2.INTER_AREA)
            found += _observations(_detect(self._image, _mp_image(tile)), x0, y0, w, h)
        faces = _deduplicate(found)
        self.n_faces_seen = max(self.n_faces_seen, len(faces))
        return faces

    # --- tracking -------------------------------------------------------------------------
    def follow(self, face: FaceObservation) -> None:
        """Track ``face`` from now on (one found by :meth:`search`, or in another picture):
        the next :meth:`track` looks around it first."""
        self._set_roi(face)

    def _set_roi(self, face: FaceObservation) -> None:
        self._set_roi_points(face.points)

    def _set_roi_points(self, points: np.ndarray) -> None:
        xy = points[:, :2]
        (xmin, ymin), (xmax, ymax) = xy.min(axis=0), xy.max(axis=0)
        size = max(xmax - xmin, ymax - ymin) * self.roi_scale
        self._roi = ((xmin + xmax) / 2, (ymin + ymax) / 2, size)

    def _track_roi(self, frame: Frame) -> FaceObservation | None:
        cx, cy, size = self._roi
        crop, (x0, y0, w, h) = crop_square(frame, cx, cy, size, self.crop_px)
        if crop is None:
            return None
        faces = _observations(_detect(self._crop_model, _mp_image(crop)), x0, y0, w, h)
        return faces[0] if faces else None

    def track(self, frame: Frame, near: np.ndarray | None = None) -> FaceObservation | None:
        """Landmarks of the followed face in this frame, or None when there is no face.

        Each frame's landmarks come from that frame alone (no temporal filtering); only the
        region of interest follows the face from one frame to the next.

        ``near``: landmarks (frame px) of the followed face in the frame before this one, when
        the last frame tracked was not that one (:mod:`facescore.model_schedule`): the region
        of interest is placed from them, as it would have been from that frame's own.
        """
        if near is not None:
            self._set_roi_points(near)
        face = self._track_roi(frame) if self._roi is not None else None
        if face is None:
            self._roi = None
            # A full search costs ~25 landmarker calls; while no face is in view, look again
            # only every few frames.
            self._frames_since_search += 1
            if self._frames_since_search < SEARCH_EVERY:
                return None
            self._frames_since_search = 0
            candidates = self.search(frame.rgb)
            if not candidates:
                return None
            height, width = frame.shape
            self._set_roi(choose_face(candidates, width, height))
            face = self._track_roi(frame)
            if face is None:
                self._roi = None
                return None
        self._set_roi(face)
        self._frames_since_search = SEARCH_EVERY - 1  # if lost next frame, search at once
        return face

    def close(self) -> None:
        for landmarker in (self._crop_model, self._image):
            with contextlib.suppress(Exception):
                landmarker.close()

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
