"""A few frames of a video, fetched without decoding the whole file before them.

The report shows a handful of frames (a rest and a peak frame per movement). Reading them back
in one pass from the start decoded and converted every frame up to the last of them (~1.5 s
on a minute of 1080p). Here each wanted time is reached by seeking to the key frame before it;
on the way, frames that no other frame refers to (most B-frames) are skipped unless they lie
close to a wanted time; and only the frames chosen are converted to RGB.

The frames found are those a streaming pass over the whole file (:func:`stream_nearest`)
would choose, converted as :class:`facescore.sources.VideoSource` converts them. Wherever
that cannot be sure (a damaged file, missing timestamps, frames further apart than
:data:`NEAR_FRAMES` frame intervals), the caller falls back to the streaming pass.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..sources import Frame, _plane, _upright, open_source

#: Every frame within this many frame intervals of a wanted time is decoded (the others only
#: when a later frame refers to them). Frames further apart are left to the streaming pass.
NEAR_FRAMES = 3


class UnsureError(Exception):
    """The seeking read cannot be sure to find the frames a streaming pass would."""


def stream_nearest(path: str | Path, wanted: list[float],
                   mirrored: bool) -> dict[float, np.ndarray]:
    """The frames nearest to each wanted time (sorted), in one streaming pass from the start:
    the reference the seeking read matches. Ties go to the earlier frame."""
    best: dict[float, tuple[float, Frame]] = {}
    with open_source(path, mirrored=mirrored) as source:
        for frame in source:
            for t in wanted:
                error = abs(frame.t_s - t)
                if error < best.get(t, (np.inf, None))[0]:
                    best[t] = (error, frame)
            if frame.t_s > wanted[-1] + 1.0:
                break
    # Converted once chosen: a frame's planes stay valid while the frame is held.
    return {t: frame.rgb for t, (_, frame) in best.items()}


def seek_nearest(path: str | Path, wanted: list[float], mirrored: bool,
                 frame_threads: bool = True) -> dict[float, np.ndarray]:
    """The frames nearest to each wanted time (sorted), found by seeking; ``frame_threads``:
    see :class:`_SeekingReader`.

    Raises
    ------
    UnsureError
        When the answer could differ from :func:`stream_nearest`'s.
    av.FFmpegError
        When the file cannot be read this way (the streaming pass copes with damage).
    """
    with _SeekingReader(path, mirrored, wanted, frame_threads) as reader:
        chosen = {t: reader.nearest(t) for t in wanted}
        return {t: reader.rgb(frame) for t, frame in chosen.items()}


class _SeekingReader:
    """Decodes forward from key frames, choosing for each wanted time (in increasing order)
    the nearest frame. Times are seconds from the first frame, as the sources count them.

    ``frame_threads``: FFmpeg decodes in frame threads of its own. Where the report draws its
    figures in the same process, this thread waits between packets for the GIL the figures
    hold and FFmpeg's threads decode on meanwhile (key frames of the exam-dense clip beside
    its figures 1.39 -> 1.15 s, alone 0.88 -> 0.78 s). In a process of its own, one thread
    costs less CPU for the same frames. The frame-skipping below is handed to each frame's
    thread with its packet; the frames found equal the streaming pass's either way (tested).
    """

    def __init__(self, path: str | Path, mirrored: bool, wanted: list[float],
                 frame_threads: bool = True):
        import av

        self._container = av.open(str(path))
        try:
            self._stream = self._container.streams.video[0]
            self._stream.thread_type = "AUTO" if frame_threads else "NONE"
            self._mirrored = mirrored
            self._wanted = wanted
            self._width = self._stream.codec_context.width
            self._height = self._stream.codec_context.height
            self._time_base = float(self._stream.time_base)  # a Fraction is slow per packet
            rate = self._stream.average_rate or self._stream.guessed_rate or 30
            self._near_s = NEAR_FRAMES / float(rate)
            self._t0, self._rotation = self._first_frame()
            self._keys = self._key_frame_times(wanted[-1] + self._near_s)
        except BaseException:
            self._container.close()
            raise
        self._frames: Iterator | None = None
        self._previous = self._current = None  # (t_s, av frame) around the read position

    def __enter__(self) -> _SeekingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._container.close()
        # The decoder and its threads go with the last reference to the stream (see
        # VideoSource.close).
        self._frames = self._previous = self._current = None
        self._container = self._stream = None

    # --- the file ------------------------------------------------------------------------
    def _first_frame(self) -> tuple[float, int]:
        """The first frame's time (the zero of every ``t_s``) and the display rotation, as
        :class:`~facescore.sources.VideoSource` reads them."""
        for frame in self._container.decode(self._stream):
            if frame.time is not None:
                rotation = int(round(frame.rotation or 0)) % 360
                return frame.time, rotation - 360 if rotation > 180 else rotation
        raise UnsureError("no timed frame")

    def _key_frame_times(self, until_s: float) -> list[float]:
        """Times of the key frames up to ``until_s`` (demuxing only: ~2 ms for 10 s)."""
        self._container.seek(0)
        times = []
        for packet in self._container.demux(self._stream):
            t_s = self._time(packet.pts)
            if t_s is None:
                if packet.size:
                    raise UnsureError("a packet without a timestamp")
                continue
            if packet.is_keyframe:
                times.append(t_s)
            if t_s > until_s:
                break
        if not times:
            raise UnsureError("no key frame")
        return sorted(times)

    def _time(self, pts: int | None) -> float | None:
        if pts is None:
            return None
        return pts * self._time_base - self._t0

    # --- decoding ------------------------------------------------------------------------
    def _decode_from(self, key_s: float) -> Iterator[tuple[float, object]]:
        """(t_s, av frame) from the key frame at ``key_s`` on, in presentation order. A frame
        that no other refers to is skipped unless it lies near a wanted time."""
        pts = round(Fraction(key_s + self._t0) / self._stream.time_base)
        self._container.seek(pts, stream=self._stream, backward=True)
        context = self._stream.codec_context
        for packet in self._container.demux(self._stream):
            t_s = self._time(packet.pts)
            near = t_s is None or self._near_wanted(t_s)
            context.skip_frame = "DEFAULT" if near else "NONREF"
            for frame in packet.decode():
                if frame.time is not None:
                    yield frame.time - self._t0, frame

    def _near_wanted(self, t_s: float) -> bool:
        i = bisect.bisect_left(self._wanted, t_s - self._near_s)
        return i < len(self._wanted) and self._wanted[i] <= t_s + self._near_s

    def _advance(self) -> bool:
        """Step the read position one frame on; False at the end of the file."""
        item = next(self._frames, None)
        if item is None:
            return False
        self._previous, self._current = self._current, item
        return True

    def nearest(self, t: float) -> object:
        """The av frame nearest to ``t`` (not before the last time asked for)."""
        i = bisect.bisect_right(self._keys, t - self._near_s) - 1
        key = self._keys[max(i, 0)]
        if self._current is None or key > self._current[0]:
            # The key frame lies ahead of the read position: jump there.
            self._frames = self._decode_from(key)
            self._previous = self._current = None
            if not self._advance() or self._current[0] > t:
                raise UnsureError("no frame before the wanted time after seeking")
        while self._current[0] < t:
            if not self._advance():
                break
        before, after = self._previous, self._current
        if after[0] < t:  # the file ended before t
            before, after = after, None
        # Only the frames near t were all decoded: a frame further off may have had a skipped
        # neighbour nearer to t.
        if before is not None and t - before[0] > self._near_s \
                or after is not None and after[0] - t > self._near_s:
            raise UnsureError("frames further apart than NEAR_FRAMES")
        if before is None or after is not None and after[0] - t < t - before[0]:
            return after[1]
        return before[1]

    def rgb(self, frame) -> np.ndarray:
        """The frame as RGB, upright, converted as the sources convert it (so the picture is
        the one the measurement saw)."""
        width, height = self._width, self._height
        if width % 2 or height % 2:
            rgb = frame.to_ndarray(format="rgb24", width=width, height=height)
            return _upright(rgb, self._rotation, self._mirrored)
        if (frame.width, frame.height) != (width, height) or frame.format.name != "yuv420p":
            frame = frame.reformat(width=width, height=height, format="yuv420p",
                                   interpolation="AREA")
        y, u, v = (_upright(_plane(frame, i), self._rotation, self._mirrored) for i in range(3))
        return Frame(0, 0.0, gray=y, chroma=(u, v)).rgb
