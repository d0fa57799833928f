"""Rest and peak frames (or a photo) with the measured points drawn, for the report."""

from __future__ import annotations

import contextlib
import pickle
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from ..anatomy import BROW, LID_CENTRE_PAIRS, MARKED, MOUTH_CORNER, RIGID, SIDES
from ..concurrency import Handoff, child_environment, process_setting
from ..landmark_worker import PROCESS_MIN_PIXELS
from ..landmarks import FaceTracker, choose_face
from ..sources import Frame, open_source
from . import seeking

#: Drawing colours (RGB) per anatomical side, matching the plots.
SIDE_RGB = {"left": (31, 119, 180), "right": (214, 39, 40)}
#: The measured face's box on a photo with several faces, and the others'.
MEASURED_RGB = (20, 160, 60)
OTHER_RGB = (150, 150, 150)
#: Width of a key frame's face crop, px: at this size the lids and the mouth corners are
#: several pixels apart even on a small face (the report shows it at up to this width).
CROP_WIDTH_PX = 560
#: Width of a photo's overview (all faces, the measured one marked), px.
OVERVIEW_WIDTH_PX = 900


def grab_frames(path: str | Path, times_s: list[float], mirrored: bool,
                seek: bool = True, frame_threads: bool = True) -> dict[float, np.ndarray]:
    """The frames nearest to each requested time (ties to the earlier frame), as RGB.

    Parameters
    ----------
    seek : bool
        Reach them by seeking (see :mod:`.seeking`); False reads the file from its start, as
        is needed where the file is damaged (a streaming pass drops the frames that depend on
        a damaged one, which seeking past the damage would not know).
    frame_threads : bool
        Seeking, decode in FFmpeg's frame threads (see :class:`.seeking._SeekingReader`).
    """
    import av

    wanted = sorted(set(times_s))
    if not wanted:
        return {}
    if seek:
        try:
            return seeking.seek_nearest(path, wanted, mirrored, frame_threads)
        except (seeking.UnsureError, av.FFmpegError, IndexError, ValueError):
            pass  # the streaming pass below copes with whatever the seeking read cannot
    return seeking.stream_nearest(path, wanted, mirrored)


def _measured_face(rgb: np.ndarray, tracker: FaceTracker):
    """All faces in a picture and the one the measurement follows (the tracker's own rule:
    the largest, discounted by its distance from the centre); (faces, None) without a face."""
    faces = tracker.search(rgb)
    if not faces:
        return faces, None
    height, width = rgb.shape[:2]
    return faces, choose_face(faces, width, height)


def draw_points(image: np.ndarray, points: np.ndarray, radius: int = 3) -> None:
    """Draw, in place, each side's measured points: brow points as dots, lid points as small
    rings (so the lid edge under them stays visible), the mouth corner as a ring, and the
    nasal midline origin (the reference of the mouth-corner height) as a white cross.

    Parameters
    ----------
    points : (478, 2) ndarray
        Landmarks in ``image`` px.
    radius : int
        Marker radius, px of ``image``.
    """
    thin = max(1, radius // 3)
    for side in SIDES:
        colour = SIDE_RGB[side]
        for x, y in points[list(BROW[side])]:
            cv2.circle(image, (int(round(x)), int(round(y))), radius, colour, -1, cv2.LINE_AA)
        lids = [i for pair in LID_CENTRE_PAIRS[side] for i in pair]
        for x, y in points[lids]:
            cv2.circle(image, (int(round(x)), int(round(y))), radius, colour, thin, cv2.LINE_AA)
        x, y = points[MOUTH_CORNER[side]]
        cv2.circle(image, (int(round(x)), int(round(y))), radius + 2, colour, thin + 1,
                   cv2.LINE_AA)
    ox, oy = points[list(RIGID)].mean(axis=0)
    arm = 3 * radius
    for dx, dy in ((arm, 0), (0, arm)):
        cv2.line(image, (int(ox - dx), int(oy - dy)), (int(ox + dx), int(oy + dy)),
                 (255, 255, 255), thin + 1, cv2.LINE_AA)


def _label(image: np.ndarray, text: str, x: int, y: int, colour, scale: float = 0.8) -> None:
    """Text on a dark patch, readable on any picture (a white wall behind a photo too)."""
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    patch = image[max(y - h - 5, 0):y + base + 3, max(x - 5, 0):x + w + 5]
    patch[:] = (0.35 * patch).astype(image.dtype)
    for ink, width in (((0, 0, 0), 4), (colour, 2)):
        cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, ink, width,
                    cv2.LINE_AA)


#: A face crop's height over its width (a face is taller than wide).
CROP_ASPECT = 1.15


def face_crop(rgb: np.ndarray, points: np.ndarray, width_px: int = CROP_WIDTH_PX,
              pad: float = 0.18, extent: np.ndarray | None = None) -> np.ndarray:
    """The face cut out and scaled to ``width_px`` wide, its measured points drawn at that
    scale, and labelled R and L on the sides where the patient's right and left are.

    The cut is a box of one shape (:data:`CROP_ASPECT`) around the landmark cloud's centre,
    ``pad`` of the face's size wider than it, so that a movement's rest and peak frames come
    out the same size side by side (trimmed only where the frame ends).

    Parameters
    ----------
    points : (478, 2) ndarray
        Landmarks, px of ``rgb`` (only the marked ones are read when ``extent`` is given).
    extent : (2, 2) ndarray, optional
        The landmark cloud's least and greatest corner, px; by default ``points``' own.
    """
    if extent is None:
        extent = np.array([points.min(axis=0), points.max(axis=0)])
    (x0, y0), (x1, y1) = extent
    centre_x, centre_y = (x0 + x1) / 2, (y0 + y1) / 2
    half_w = (1 + 2 * pad) * max(x1 - x0, (y1 - y0) / CROP_ASPECT) / 2
    half_h = CROP_ASPECT * half_w
    x0, y0 = int(max(centre_x - half_w, 0)), int(max(centre_y - half_h, 0))
    x1 = int(min(centre_x + half_w, rgb.shape[1]))
    y1 = int(min(centre_y + half_h, rgb.shape[0]))
    crop = rgb[y0:y1, x0:x1]
    scale = width_px / crop.shape[1]
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    crop = np.ascontiguousarray(cv2.resize(crop, None, fx=scale, fy=scale,
                                           interpolation=interpolation))
    draw_points(crop, (points - (x0, y0)) * scale)
    # The patient's right is on the viewer's left (frames are shown as an examiner sees them).
    for text, x in (("R", 8), ("L", crop.shape[1] - 26)):
        _label(crop, text, x, 28, (255, 255, 255), 0.9)
    return crop


def photo_overview(rgb: np.ndarray, tracker: FaceTracker) -> tuple[np.ndarray | None,
                                                                   np.ndarray | None, int]:
    """A photo's pictures for the report.

    Returns
    -------
    overview : ndarray or None
        The whole photo, every face boxed, the measured one marked "measured" (None when the
        photo holds one face: the crop shows it all).
    crop : ndarray or None
        The measured face with its points (None without a face).
    n_faces : int
    """
    faces, measured = _measured_face(rgb, tracker)
    if measured is None:
        return None, None, 0
    crop = face_crop(rgb, measured.points[:, :2])
    if len(faces) < 2:
        return None, crop, len(faces)
    scale = min(1.0, OVERVIEW_WIDTH_PX / rgb.shape[1])
    overview = np.ascontiguousarray(cv2.resize(rgb, None, fx=scale, fy=scale,
                                               interpolation=cv2.INTER_AREA))
    thickness = max(2, overview.shape[1] // 300)
    # The others first, so that the measured face's box and label are drawn on top.
    for face in sorted(faces, key=lambda f: f is measured):
        (x0, y0), (x1, y1) = face.points[:, :2].min(axis=0) * scale, \
            face.points[:, :2].max(axis=0) * scale
        colour = MEASURED_RGB if face is measured else OTHER_RGB
        cv2.rectangle(overview, (int(x0), int(y0)), (int(x1), int(y1)), colour, thickness)
        text = "measured" if face is measured else "not measured"
        _label(overview, text, int(x0), int(y1) + 22 if y1 + 26 < overview.shape[0]
               else max(int(y0) - 8, 18), colour, 0.6)
    return overview, crop, len(faces)


def jpeg(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 88])
    return data.tobytes() if ok else b""


def _from_measurement(marked: np.ndarray | None, size: tuple[int, int] | None,
                      shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """A frame's landmarks (478, 2; NaN but the marked ones) and its cloud's extent (2, 2)
    in px of a picture of ``shape``, from its row of the measurement's ``marked_px`` (px of
    ``size``, width by height: the measurement may have decoded a large video smaller);
    None without a row or where the measurement found no face."""
    if marked is None or size is None or not np.isfinite(marked).all():
        return None
    scale = np.array([shape[1] / size[0], shape[0] / size[1]])
    points = np.full((478, 2), np.nan)
    points[list(MARKED)] = marked[:len(MARKED)] * scale
    return points, marked[len(MARKED):] * scale


def annotate_frames(pictures: dict[str, np.ndarray | None],
                    marked: dict[str, np.ndarray] | None = None,
                    size: tuple[int, int] | None = None) -> dict[str, bytes]:
    """JPEG bytes of each picture (frames of one video) with its measured points drawn (None
    pictures skipped).

    Parameters
    ----------
    marked : dict, optional
        Per picture, its row of the measurement's ``marked_px`` (see
        :class:`facescore.pipeline.Measurement`): the points are drawn where the measurement
        found them, with no landmark model to load and run.
    size : (int, int)
        Width and height of the frames the measurement measured, px (with ``marked``).

    Where a picture has no such row, the face is searched for, by the measurement's own rule,
    in the first picture and then followed from picture to picture as the measurement follows
    it (one landmark call instead of a ~25-window search each: ~0.1 s a 1080p frame);
    searched for again where it is lost.
    """
    out = {}
    with contextlib.ExitStack() as stack:
        tracker = None
        for index, (name, rgb) in enumerate(pictures.items()):
            if rgb is None:
                continue
            measured = _from_measurement((marked or {}).get(name), size, rgb.shape)
            if measured is not None:
                out[name] = jpeg(face_crop(rgb, measured[0], extent=measured[1]))
                continue
            if tracker is None:
                tracker = stack.enter_context(FaceTracker(blendshapes=False))
            face = tracker.track(Frame.from_rgb(index, 0.0, rgb))
            if face is None:  # the tracker searches only every few frames: here, every time
                _, face = _measured_face(rgb, tracker)
            out[name] = jpeg(rgb if face is None else face_crop(rgb, face.points[:, :2]))
    return out


def key_frames(path: str | Path, times_s: dict[str, float], mirrored: bool,
               seek: bool = True, marked: dict[str, np.ndarray] | None = None,
               size: tuple[int, int] | None = None, frame_threads: bool = True
               ) -> dict[str, bytes]:
    """JPEG bytes of annotated frames read back from a video, by name (``seek`` and
    ``frame_threads``: see :func:`grab_frames`; ``marked`` and ``size``: see
    :func:`annotate_frames`)."""
    grabbed = grab_frames(path, list(times_s.values()), mirrored, seek, frame_threads)
    return annotate_frames({name: grabbed.get(t) for name, t in times_s.items()}, marked,
                           size)


_CHILD = "from facescore.report.keyframes import _serve_child; _serve_child()"


def wants_child(width: int, height: int) -> bool:
    """Whether a video of this size has its key frames read in a child process: above the
    landmark worker's size bound (measured there; not below 1080p here), and not where
    ``FACESCORE_LANDMARK_PROCESS=0`` asks for no second process.

    Beside the report's figures, decoding them in a thread competes for the GIL the figures
    hold; in a process of its own (~0.15 s to start) one FFmpeg thread decodes them with less
    CPU (exam-dense 1080p: the report 1.37-1.48 -> 1.11-1.25 s)."""
    return width * height >= PROCESS_MIN_PIXELS and process_setting() is not False


#: A child started ahead of its request (:func:`start_child`) and not yet asked.
_started: Handoff[subprocess.Popen] = Handoff()


def _spawn() -> subprocess.Popen:
    # Its own session: a terminal's Ctrl-C reaches only this process, which stops it.
    return subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=child_environment(), start_new_session=True)


def start_child(width: int, height: int) -> None:
    """Start now the child that :func:`key_frames_in_child` will ask, for a video of this
    size where it reads in a child (:func:`wants_child`): its start-up (~0.15 s) then runs
    while the caller does other work — the command starts it when the frames are measured,
    and it loads while the measurement is analysed, with one core idle. One is kept at a
    time (a second call stops the first's); one not asked is stopped by :func:`stop_child`."""
    stop_child()
    if wants_child(width, height):
        with contextlib.suppress(OSError):
            _started.put(_spawn())


def stop_child() -> None:
    """Stop a child from :func:`start_child` that was never asked (the analysis failed)."""
    child = _started.take()
    if child is not None:
        child.kill()
        child.communicate()


def key_frames_in_child(path: str | Path, times_s: dict[str, float], mirrored: bool,
                        seek: bool = True, marked: dict[str, np.ndarray] | None = None,
                        size: tuple[int, int] | None = None) -> dict[str, bytes]:
    """:func:`key_frames`, read and drawn in a child Python process (one decoding thread; the
    one :func:`start_child` started, if any). Where the child cannot start or fails, they are
    read here, as :func:`key_frames` reads them (so a file that cannot be read fails here,
    with its own error)."""
    request = pickle.dumps((str(path), times_s, mirrored, seek, marked, size))
    try:
        child = _started.take() or _spawn()
        try:
            answer, _ = child.communicate(request)
        except BaseException:  # e.g. Ctrl-C: the child goes with this process
            child.kill()
            child.communicate()
            raise
        if child.returncode != 0:
            raise subprocess.CalledProcessError(child.returncode, _CHILD)
        return pickle.loads(answer)
    except (OSError, subprocess.SubprocessError, pickle.UnpicklingError, EOFError):
        return key_frames(path, times_s, mirrored, seek, marked, size)


def _serve_child() -> None:
    """The child of :func:`key_frames_in_child`: a request on stdin, the images on stdout."""
    try:
        path, times_s, mirrored, seek, marked, size = pickle.load(sys.stdin.buffer)
    except EOFError:  # started ahead and never asked (see start_child)
        return
    images = key_frames(path, times_s, mirrored, seek, marked, size, frame_threads=False)
    sys.stdout.buffer.write(pickle.dumps(images))
    sys.stdout.flush()


def photo_images(path: str | Path, mirrored: bool) -> tuple[dict[str, bytes], int]:
    """A photo's report pictures as JPEG bytes (``"face"`` and, with several faces,
    ``"overview"``), and how many faces it holds."""
    from ..pipeline import WORKING_MAX_SIDE

    # Bounded as the measurement bounds it: a 50 Mpx photo needs no more for its pictures.
    with open_source(path, mirrored=mirrored, max_side=WORKING_MAX_SIDE) as source:
        rgb = next(iter(source)).rgb
    with FaceTracker(blendshapes=False) as tracker:
        overview, crop, n_faces = photo_overview(rgb, tracker)
    images = {name: jpeg(picture) for name, picture in (("overview", overview), ("face", crop))
              if picture is not None}
    return images, n_faces
