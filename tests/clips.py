"""Writing test videos with PyAV: any codec, bit depth, rotation, timing or container.

The awkward-input corpus and the interruption tests build their files from a phantom's frames
with these helpers, so nothing is downloaded or copied in.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_video(path: Path, frames: list[np.ndarray], codec: str = "libx264",
                pix_fmt: str = "yuv420p", fps: float = 30, times_ms: list[int] | None = None,
                rotation: int | None = None, container_format: str | None = None,
                options: dict | None = None, container_options: dict | None = None,
                audio: bool = False, metadata: dict | None = None) -> Path:
    """Encode RGB ``frames`` (H, W, 3 uint8) into ``path``.

    Parameters
    ----------
    times_ms : list of int, optional
        Each frame's presentation time, ms (variable frame rate); default: regular at ``fps``.
    rotation : int, optional
        Display rotation metadata, degrees counter-clockwise (as phones write it).
    audio : bool
        Also write a silent AAC track, before the video track (as some phones order them).
    metadata : dict, optional
        Container tags, e.g. ``creation_time``.
    """
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w", format=container_format,
                 options=container_options or {}) as container:
        container.metadata.update(metadata or {})
        sound = container.add_stream("aac", rate=48000) if audio else None
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if codec == "libx264":
            # The phantoms' reproducible settings (one thread, no macroblock tree: see
            # facescore.phantom.X264_OPTIONS), so that a test's clip is the same file anywhere.
            options = {"threads": "1", "x264-params": "mbtree=0", **(options or {})}
            stream.codec_context.thread_count = 1
        if options:
            stream.options = options
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if times_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
            stream.time_base = Fraction(1, 1000)
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            if times_ms is not None:
                frame.pts, frame.time_base = times_ms[i], Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if sound is not None:
            _silence(container, sound, len(frames) / fps)
    return path


def _silence(container, stream, seconds: float) -> None:
    samples = 1024
    for i in range(int(seconds * 48000 / samples)):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, samples), np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate, frame.pts = 48000, i * samples
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def write_audio(path: Path, seconds: float = 2.0) -> Path:
    """A file holding only a silent AAC track."""
    with av.open(str(path), "w") as container:
        _silence(container, container.add_stream("aac", rate=48000), seconds)
    return path


def to_y4m(video: Path, path: Path) -> Path:
    """A video as uncompressed YUV4MPEG2 (4:2:0), the file Chromium's fake camera plays
    (``--use-file-for-fake-video-capture``), at the video's own frame rate."""
    with av.open(str(video)) as source, av.open(str(path), "w", format="yuv4mpegpipe") as out:
        decoded = source.streams.video[0]
        stream = out.add_stream("rawvideo", rate=decoded.average_rate)
        stream.width, stream.height, stream.pix_fmt = decoded.width, decoded.height, "yuv420p"
        for frame in source.decode(decoded):
            frame = frame.reformat(format="yuv420p")
            frame.pts = None
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
