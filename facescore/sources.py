"""Frames in, with true timestamps: video files (PyAV), still images and webcams.

Every source yields :class:`Frame` objects one at a time, so memory stays flat however long the
recording. Frames come out upright (rotation metadata applied) and un-mirrored (when the caller
says the recording is mirrored), so everything downstream sees the patient as an examiner facing
them would: the patient's right on the image's left.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from .concurrency import prefetch
from .errors import SourceError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}

#: Largest picture accepted, px a side and px in all: a face needs far fewer, and a file that
#: claims more is broken or hostile (decoding it could take gigabytes of memory). 8K video is
#: 7680 x 4320 (33 Mpx); the largest phone photos are ~200 Mpx only in special modes.
MAX_SIDE_PX = 16384
MAX_PIXELS = 120_000_000
#: A video whose last readable frame comes this much (s, and share of its declared length)
#: before the end its container declares is reported as ending early (truncated).
EARLY_END_S = 1.0
EARLY_END_SHARE = 0.1


@dataclass(eq=False)
class Frame:
    """One decoded frame, upright and un-mirrored.

    A video frame keeps the decoder's own 4:2:0 planes and converts to RGB only what is asked
    for: the landmark model needs a small region around the face and the flow needs the luma,
    so converting every whole frame would be wasted work.

    Attributes
    ----------
    index : int
        0-based position in the source.
    t_s : float
        Presentation time in seconds from the start of the stream (true per-frame time, so
        variable-frame-rate video is timed correctly).
    gray : (H, W) uint8 ndarray or None
        Luma, when the decoder had it for free (a video's Y plane); else None.
    chroma : pair of (H/2, W/2) uint8 ndarrays or None
        The U and V planes of a 4:2:0 video frame (BT.601 limited range, as FFmpeg decodes).
    """

    index: int
    t_s: float
    gray: np.ndarray | None = None
    chroma: tuple[np.ndarray, np.ndarray] | None = None
    _rgb: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_rgb(cls, index: int, t_s: float, rgb: np.ndarray) -> Frame:
        """A frame that arrived as an RGB picture (still image, webcam)."""
        return cls(index, t_s, _rgb=rgb)

    @property
    def planar(self) -> bool:
        """Whether the picture is held as 4:2:0 planes (a video frame) rather than RGB."""
        return self.chroma is not None

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in px."""
        return (self.gray if self._rgb is None else self._rgb).shape[:2]

    @property
    def rgb(self) -> np.ndarray:
        """(H, W, 3) uint8 ndarray: the whole picture (converted once, on first use)."""
        if self._rgb is None:
            self._rgb = _i420_to_rgb(self.gray, *self.chroma)
        return self._rgb

    def region_rgb(self, x0: int, y0: int, width: int, height: int,
                   out_size: tuple[int, int]) -> np.ndarray:
        """The region (x0, y0, width, height), frame px, resized to ``out_size`` (w, h) px, RGB.

        Resized bilinearly, and for a video frame in its planes before the colour conversion,
        so only the output's pixels are converted.
        """
        if self._rgb is not None:
            region = self._rgb[y0:y0 + height, x0:x0 + width]
            return cv2.resize(region, out_size, interpolation=cv2.INTER_LINEAR)
        out_w, out_h = (max(2, 2 * round(n / 2)) for n in out_size)  # 4:2:0 needs even sizes
        u, v = self.chroma
        cx0, cy0 = x0 // 2, y0 // 2
        cx1, cy1 = (x0 + width + 1) // 2, (y0 + height + 1) // 2
        planes = [cv2.resize(self.gray[y0:y0 + height, x0:x0 + width], (out_w, out_h),
                             interpolation=cv2.INTER_LINEAR)]
        planes += [cv2.resize(c[cy0:cy1, cx0:cx1], (out_w // 2, out_h // 2),
                              interpolation=cv2.INTER_LINEAR) for c in (u, v)]
        rgb = _i420_to_rgb(*planes)
        if (out_w, out_h) != tuple(out_size):
            rgb = cv2.resize(rgb, out_size, interpolation=cv2.INTER_LINEAR)
        return rgb


def pack_i420(y: np.ndarray, u: np.ndarray, v: np.ndarray,
              out: np.ndarray | None = None) -> np.ndarray:
    """4:2:0 planes (Y of even size H x W, U and V of H/2 x W/2) packed one after another (I420).

    Returns the flat (H * W * 3 / 2,) uint8 buffer, ``out`` when given (it may be longer).
    """
    n = y.size
    if out is None:
        out = np.empty(n * 3 // 2, dtype=np.uint8)
    for plane, (start, stop) in zip((y, u, v), _i420_spans(n), strict=True):
        out[start:stop].reshape(plane.shape)[:] = plane
    return out[:n * 3 // 2]


def unpack_i420(packed: np.ndarray, height: int, width: int) -> tuple[np.ndarray, ...]:
    """Views of the Y, U and V planes in an I420 buffer (see :func:`pack_i420`)."""
    quarter = (height // 2, width // 2)
    shapes = ((height, width), quarter, quarter)
    return tuple(packed[start:stop].reshape(shape)
                 for (start, stop), shape in zip(_i420_spans(height * width), shapes, strict=True))


def _i420_spans(n: int) -> tuple[tuple[int, int], ...]:
    return (0, n), (n, n + n // 4), (n + n // 4, n + n // 2)


def _i420_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """RGB from 4:2:0 planes (Y of even size H x W, U and V of H/2 x W/2)."""
    height, width = y.shape
    packed = pack_i420(y, u, v)
    return cv2.cvtColor(packed.reshape(height * 3 // 2, width), cv2.COLOR_YUV2RGB_I420)


@dataclass(frozen=True)
class SourceInfo:
    """What is known about a source before decoding it."""

    path: str
    kind: str  # "video", "image" or "camera"
    width: int  # upright width in px
    height: int  # upright height in px
    fps: float  # average frame rate (nominal; use Frame.t_s for timing)
    n_frames: int | None  # container's count, None when unknown
    duration_s: float | None
    rotation_deg: int  # counter-clockwise rotation applied to stored frames for display
    mirrored: bool
    #: Set once a damaged or truncated video has been decoded: what could not be read (see
    #: :func:`damage_report`); None for an intact source.
    damage: dict | None = None


def check_size(width: int, height: int, what: str) -> None:
    """Refuse pictures with no size or one too large to decode safely.

    Parameters
    ----------
    width, height : int
        Stored picture size, px.
    what : str
        What is being opened, for the message (e.g. ``"video clip.mp4"``).

    Raises
    ------
    SourceError
    """
    if width <= 0 or height <= 0:
        raise SourceError(f"{what} has no picture size ({width}x{height} px)")
    if max(width, height) > MAX_SIDE_PX or width * height > MAX_PIXELS:
        raise SourceError(f"{what} is {width}x{height} px, larger than facescore reads (at most "
                          f"{MAX_SIDE_PX} px a side and {MAX_PIXELS / 1e6:.0f} Mpx)")


def damage_report(readable_frames: int, readable_s: float, declared_s: float | None,
                  skipped_packets: int, dropped_frames: int, damaged_to_end: bool,
                  stopped: str | None) -> dict | None:
    """What a video's decoding could not read, or None when it read everything.

    Parameters
    ----------
    readable_frames : int
        Frames decoded and kept.
    readable_s : float
        Time of the last kept frame, s from the first.
    declared_s : float or None
        Duration the container declares, s (None when unknown).
    skipped_packets : int
        Damaged packets skipped (each with the frames that depended on it).
    dropped_frames : int
        Frames decoded after damage but before the next key frame, dropped because their
        pictures are built on the damaged data.
    damaged_to_end : bool
        No key frame followed the last damage: everything after it was dropped.
    stopped : str or None
        Why reading stopped before the end of the file (the demuxer's error), if it did.

    Returns
    -------
    dict or None
        ``description`` (one sentence), ``readable_frames``, ``readable_s``, ``declared_s``,
        ``skipped_packets``, ``dropped_frames`` and ``ends_early`` (bool).
    """
    short = declared_s is not None and declared_s - readable_s > max(
        EARLY_END_S, EARLY_END_SHARE * declared_s)
    ends_early = stopped is not None or damaged_to_end or short
    if not ends_early and not skipped_packets:
        return None
    upto = f"readable to {readable_s:.1f} s" + (f" of its declared {declared_s:.1f} s"
                                                if declared_s else "")
    parts = []
    if damaged_to_end:
        parts.append(f"{upto}: the file is cut short or damaged from there ({skipped_packets} "
                     f"unreadable packet(s); {dropped_frames} frame(s) after them dropped)")
    else:
        if skipped_packets:
            parts.append(f"{skipped_packets} damaged packet(s) skipped with the "
                         f"{dropped_frames} frame(s) built on them (gaps in time)")
        if stopped is not None:
            parts.append(f"{upto} (reading stopped: {stopped})")
        elif short:
            parts.append(f"{upto}: the file is cut short")
    return {"description": "video damaged: " + "; ".join(parts),
            "readable_frames": int(readable_frames), "readable_s": round(float(readable_s), 3),
            "declared_s": None if declared_s is None else float(declared_s),
            "skipped_packets": int(skipped_packets), "dropped_frames": int(dropped_frames),
            "ends_early": bool(ends_early)}


def _upright(picture: np.ndarray, rotation_deg: int, mirrored: bool) -> np.ndarray:
    """The picture (or one plane of it) as displayed: rotated, and flipped when mirrored."""
    quarter_turns = round(rotation_deg / 90) % 4
    if quarter_turns:
        picture = np.rot90(picture, k=quarter_turns)
    if mirrored:
        picture = picture[:, ::-1]
    return np.ascontiguousarray(picture) if quarter_turns or mirrored else picture


def _plane(frame, i: int) -> np.ndarray:
    """Plane ``i`` of a planar video frame as an array view (no copy; rows may be padded)."""
    plane = frame.planes[i]
    rows = np.frombuffer(plane, dtype=np.uint8, count=plane.height * plane.line_size)
    rows = rows.reshape(plane.height, plane.line_size)
    return rows[:, :plane.width]


class VideoSource:
    """A video file decoded with PyAV.

    Parameters
    ----------
    path : str or Path
        Any container/codec FFmpeg reads.
    mirrored : bool
        True when the recording is a mirror image (most webcam previews); frames are flipped back.
    max_side : int, optional
        Frames whose longer side exceeds this are scaled down while decoding (in FFmpeg's
        scaler, not in Python). None keeps the stored resolution.
    prefetch : int
        Frames decoded ahead in a background thread (FFmpeg releases the GIL), so decoding
        overlaps with whatever the consumer does; 0 decodes in the caller's thread.
    """

    def __init__(self, path: str | Path, mirrored: bool = False, max_side: int | None = None,
                 prefetch: int = 4):
        import av

        self.path = Path(path)
        self.mirrored = mirrored
        self.prefetch = prefetch
        if not self.path.exists():
            raise SourceError(f"no such file: {self.path}")
        if self.path.is_dir():
            raise SourceError(f"{self.path} is a folder, not a video")
        if self.path.stat().st_size == 0:
            raise SourceError(f"{self.path} is empty (0 bytes)")
        try:
            self._container = av.open(str(self.path))
        except (av.FFmpegError, UnicodeDecodeError, OSError) as exc:
            reason = (MISSING_INDEX if _mp4_index_missing(self.path) else _reason(exc))
            raise SourceError(f"not a readable video: {self.path} ({reason})") from exc
        if not self._container.streams.video:
            audio_only = bool(self._container.streams.audio)
            self._container.close()
            raise SourceError(f"no video stream in {self.path}"
                              + (" (it holds only sound)" if audio_only else ""))
        self._stream = self._container.streams.video[0]
        width, height = self._stream.codec_context.width, self._stream.codec_context.height
        try:
            check_size(width, height, f"video {self.path}")
        except SourceError:
            self._container.close()
            raise
        # Above 720p FFmpeg decodes in frame threads of its own. With the landmark model on key
        # frames, decoding is the pipeline's longest stage and its thread waits on the GIL
        # between frames; FFmpeg's threads go on meanwhile: the whole command on 1080p exams
        # ran 5-8 % faster (7 of 8 paired runs; with the model on every frame, which keeps the
        # other core busy, no difference). Smaller video decodes in one thread.
        self._stream.thread_type = "AUTO" if width * height > 1280 * 720 else "NONE"
        try:
            self._rotation = self._probe_rotation()
        except SourceError:
            self._container.close()
            raise
        self._decode_size: tuple[int, int] | None = None
        if max_side and max(width, height) > max_side:
            factor = max_side / max(width, height)
            width, height = 2 * round(width * factor / 2), 2 * round(height * factor / 2)
            self._decode_size = (width, height)
        if self._rotation % 180:
            width, height = height, width
        rate = self._stream.average_rate or self._stream.guessed_rate or Fraction(30)
        duration = None
        if self._stream.duration is not None and self._stream.time_base is not None:
            duration = float(self._stream.duration * self._stream.time_base)
        elif self._container.duration is not None:
            duration = self._container.duration / 1_000_000
        self.info = SourceInfo(
            path=str(self.path),
            kind="video",
            width=int(width),
            height=int(height),
            fps=float(rate),
            n_frames=int(self._stream.frames) or None,
            duration_s=duration,
            rotation_deg=self._rotation,
            mirrored=mirrored,
        )

    def _probe_rotation(self) -> int:
        """Read the display-matrix rotation from the first frame, then rewind."""
        import av

        try:
            for frame in self._container.decode(self._stream):
                rotation = int(round(frame.rotation or 0)) % 360
                rotation = rotation - 360 if rotation > 180 else rotation  # (-180, 180]
                break
            else:
                raise SourceError(f"no decodable frames in {self.path}")
            self._container.seek(0)
        except av.FFmpegError as exc:
            raise SourceError(f"cannot decode {self.path} ({_reason(exc)})") from exc
        return rotation

    def _frames(self) -> Iterator[Frame]:
        """Every readable frame, upright. Damage does not stop the reading: a packet the
        decoder rejects is skipped, with the frames built on it (up to the next key frame),
        and a file that cannot be read on ends there; what was lost is recorded in
        ``self.info.damage`` once the frames are exhausted."""
        import av

        t0: float | None = None
        index = 0
        stored = (self._stream.codec_context.width, self._stream.codec_context.height)
        width, height = self._decode_size or stored
        # Frames stay in 4:2:0 planes: the flow reads the luma and the landmark model gets a
        # small region converted to RGB (see Frame). Frames too large are scaled in FFmpeg's
        # scaler, still to 4:2:0; odd sizes cannot be 4:2:0 and are converted to RGB whole.
        planar = width % 2 == 0 and height % 2 == 0
        skipped = dropped = 0
        after_damage = False
        stopped: str | None = None
        t_s = 0.0
        try:
            for packet in self._container.demux(self._stream):
                try:
                    decoded = packet.decode()
                except av.FFmpegError:
                    skipped += 1
                    after_damage = True
                    continue
                for frame in decoded:
                    if frame.time is None:
                        continue
                    if after_damage and not frame.key_frame:
                        dropped += 1  # its references are damaged: its picture is not the scene
                        continue
                    after_damage = False
                    if t0 is None:
                        t0 = frame.time
                    t_s = frame.time - t0
                    if planar:
                        # Other layouts, bit depths and full-range ("j") video are converted by
                        # FFmpeg, which knows their colour ranges.
                        if (frame.width, frame.height) != (width, height) \
                                or frame.format.name != "yuv420p":
                            frame = frame.reformat(width=width, height=height, format="yuv420p",
                                                   interpolation="AREA")
                        y, u, v = (_upright(_plane(frame, i), self._rotation, self.mirrored)
                                   for i in range(3))
                        yield Frame(index, t_s, gray=y, chroma=(u, v))
                    else:
                        rgb = frame.to_ndarray(format="rgb24", width=width, height=height)
                        yield Frame.from_rgb(index, t_s,
                                             _upright(rgb, self._rotation, self.mirrored))
                    index += 1
        except av.FFmpegError as exc:  # the demuxer cannot read on: the file ends here
            stopped = _reason(exc)
        damage = damage_report(index, t_s, self.info.duration_s, skipped, dropped,
                               after_damage, stopped)
        if index == 0:
            detail = f" ({damage['description']})" if damage else ""
            raise SourceError(f"no decodable frames in {self.path}{detail}")
        if damage is not None:
            self.info = dataclasses.replace(self.info, damage=damage)

    def __iter__(self) -> Iterator[Frame]:
        if self.prefetch <= 0:
            yield from self._frames()
            return
        self._active = prefetch(self._frames(), self.prefetch)
        # Not ``yield from``: that closes the decoding stage when this generator is finalized,
        # which a signal can make happen while that stage is running ("generator already
        # executing"); close() stops it instead.
        for frame in self._active:  # noqa: UP028 (see above)
            yield frame

    def close(self) -> None:
        # Stop a decoding thread before closing the container it reads (a consumer that
        # stopped early leaves it waiting on its queue).
        active = getattr(self, "_active", None)
        if active is not None:
            active.close()
        self._active = None
        if self._container is not None:
            self._container.close()
        # The decoder (and FFmpeg's threads with it) is freed with the last reference to its
        # stream, not by closing the container: dropped here, so that no decoding thread
        # outlives the source. (A process forked while one lives hangs freeing its copy.)
        self._container = self._stream = None

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageSource:
    """A still photo as a one-frame source.

    Parameters
    ----------
    path : str or Path
        Any image Pillow reads (EXIF orientation is applied).
    mirrored : bool
        The photo is a mirror image (a selfie camera's preview); it is flipped back.
    max_side : int, optional
        A photo whose longer side exceeds this, px, is scaled down to it (landmarks and the
        millimetre scale do not need more; a 50 Mpx photo would only cost memory and time).
    """

    def __init__(self, path: str | Path, mirrored: bool = False, max_side: int | None = None):
        from PIL import Image, ImageOps, UnidentifiedImageError

        self.path = Path(path)
        if not self.path.exists():
            raise SourceError(f"no such file: {self.path}")
        if self.path.is_dir():
            raise SourceError(f"{self.path} is a folder, not an image")
        if self.path.stat().st_size == 0:
            raise SourceError(f"{self.path} is empty (0 bytes)")
        try:
            # Pillow's own decompression-bomb warning is replaced by check_size's limit.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(self.path) as image:
                    check_size(*image.size, f"image {self.path}")
                    if max_side:
                        image.draft("RGB", (max_side, max_side))  # JPEG: decode at a lower scale
                    # EXIF orientation is the photo's rotation metadata.
                    upright = ImageOps.exif_transpose(image).convert("RGB")
                    if max_side and max(upright.size) > max_side:
                        upright.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
                    rgb = np.asarray(upright)
        except Image.DecompressionBombError:
            raise SourceError(f"image {self.path} is larger than facescore reads (at most "
                              f"{MAX_SIDE_PX} px a side and {MAX_PIXELS / 1e6:.0f} Mpx)") from None
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise SourceError(f"not a readable image: {self.path}") from exc
        self._rgb = _upright(rgb, 0, mirrored)
        height, width = self._rgb.shape[:2]
        self.info = SourceInfo(str(self.path), "image", width, height, 0.0, 1, None, 0, mirrored)

    def __iter__(self) -> Iterator[Frame]:
        yield Frame.from_rgb(0, 0.0, self._rgb)

    def close(self) -> None:
        pass

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CameraSource:
    """A live webcam through OpenCV, timed by the wall clock.

    Frames come as the camera sees them (not mirrored; only previews are mirrored for the
    viewer). Pass ``mirrored=True`` for a camera that mirrors in its driver.
    """

    def __init__(self, index: int = 0, mirrored: bool = False):

        self._capture = cv2.VideoCapture(index)
        if not self._capture.isOpened():
            raise SourceError(f"cannot open camera {index}")
        width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 30.0)
        self.mirrored = mirrored
        self.info = SourceInfo(f"camera:{index}", "camera", width, height, fps, None, None, 0,
                               mirrored)

    def __iter__(self) -> Iterator[Frame]:

        t0 = time.monotonic()
        index = 0
        while True:
            ok, bgr = self._capture.read()
            if not ok:
                return
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            yield Frame.from_rgb(index, time.monotonic() - t0,
                                 _upright(rgb, 0, self.mirrored))
            index += 1

    def close(self) -> None:
        self._capture.release()

    def __enter__(self) -> CameraSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Source = VideoSource | ImageSource | CameraSource


def open_source(spec: str | Path | int, mirrored: bool = False,
                max_side: int | None = None) -> Source:
    """Open a video file, a still image or (an integer) a camera index.

    ``max_side`` bounds the decoded resolution of a video or photo (see :class:`VideoSource`,
    :class:`ImageSource`).
    """
    if isinstance(spec, int):
        return CameraSource(spec, mirrored=mirrored)
    path = Path(spec)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path, mirrored=mirrored, max_side=max_side)
    return VideoSource(path, mirrored=mirrored, max_side=max_side)


#: Why an MP4/MOV file that ends before its index cannot be read at all.
MISSING_INDEX = ("cut short before its index: an MP4 or MOV file's index (its 'moov' box), "
                 "which phones and cameras write at the end, is missing, and without it no "
                 "frame can be found")


def _mp4_index_missing(path: Path) -> bool:
    """An ISO media file (MP4, MOV, M4V, 3GP: it starts with an ``ftyp`` box) whose top-level
    boxes end without a ``moov`` box, or with a box cut short before it: a recording copied
    or uploaded only in part, where the camera writes the index last."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            offset, first = 0, True
            while offset + 8 <= size:
                handle.seek(offset)
                header = handle.read(16)
                length, kind = int.from_bytes(header[:4], "big"), header[4:8]
                if first and kind != b"ftyp":
                    return False  # not an ISO media file: FFmpeg's own reason stands
                first = False
                if kind == b"moov":
                    return False
                if length == 1:  # a 64-bit length follows the type
                    length = int.from_bytes(header[8:16], "big")
                elif length == 0:  # the box runs to the end of the file
                    return True
                if length < 8 or offset + length > size:
                    return True  # cut inside this box, before any index
                offset += length
    except OSError:
        return False
    return not first


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def copy_first_seconds(source: str | Path, target: str | Path, seconds: float) -> Path:
    """Write the first ``seconds`` of a video to ``target``, its packets copied as they are.

    No re-encoding: the frames decode as in the original, with the same timestamps (a real
    recording cut short for a test or a benchmark). The container is the source's.
    """
    import av

    target = Path(target)
    with av.open(str(source)) as src:
        stream = src.streams.video[0]
        with av.open(str(target), mode="w", format=src.format.name.split(",")[0]) as sink:
            copy = sink.add_stream_from_template(stream)
            for packet in src.demux(stream):
                if packet.dts is None:
                    continue
                if packet.dts * packet.time_base >= seconds:
                    break
                packet.stream = copy
                sink.mux(packet)
    return target
