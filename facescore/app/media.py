"""What an upload is: accepted only when it decodes as a video or an image.

The check decodes with facescore's own sources (the first frame of a video, the whole of an
image), and reads the recording's date from its metadata when it has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ..errors import SourceError

#: Still-image formats (Pillow's names) and the suffix the file is stored under; these
#: suffixes are the ones facescore's sources read as images.
IMAGE_FORMATS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "BMP": ".bmp", "TIFF": ".tif",
                 "WEBP": ".webp"}
#: Video containers accepted (FFmpeg demuxer names, first of each alias list) and the suffix
#: stored. Playlists and other demuxers that open further files or addresses (hls, dash,
#: concat, ...) are refused.
VIDEO_FORMATS = {"mov": ".mp4", "matroska": ".mkv", "avi": ".avi", "mpeg": ".mpg",
                 "mpegts": ".ts", "flv": ".flv", "asf": ".wmv", "ogg": ".ogv", "gif": ".gif",
                 "h264": ".h264", "hevc": ".hevc", "m4v": ".m4v", "mjpeg": ".mjpeg",
                 "ivf": ".ivf", "nut": ".nut", "mxf": ".mxf", "yuv4mpegpipe": ".y4m"}


@dataclass(frozen=True)
class Probe:
    kind: str  # "video" or "image"
    suffix: str  # what the stored file is called: recording<suffix>
    n_frames: int | None
    recorded_at: str | None  # YYYY-MM-DDTHH:MM:SS, local time, from the metadata


def probe(path: Path) -> Probe:
    """Decode enough of ``path`` to know it is a video or an image.

    Raises
    ------
    SourceError
        It is neither (with the reason in words).
    """
    image = _probe_image(path)
    return image if image is not None else _probe_video(path)


def _probe_image(path: Path) -> Probe | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as picture:
            kind = picture.format
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    if kind not in IMAGE_FORMATS:
        return None
    from ..sources import ImageSource

    ImageSource(path)  # decodes it whole; raises SourceError when it cannot
    return Probe("image", IMAGE_FORMATS[kind], 1, _image_date(path))


def _probe_video(path: Path) -> Probe:
    import av

    try:
        # Only local files: a container never makes FFmpeg open anything else.
        container = av.open(str(path), options={"protocol_whitelist": "file"})
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise SourceError("not a video or image facescore can read") from exc
    try:
        demuxer = container.format.name.split(",")[0]
        if demuxer not in VIDEO_FORMATS:
            raise SourceError(f"not a video or image facescore can read ({demuxer})")
        if not container.streams.video:
            raise SourceError("the file has no video in it")
        date = _video_date(container)
    finally:
        container.close()
    from ..sources import VideoSource

    with VideoSource(path, prefetch=0) as source:  # decodes the first frame
        info = source.info
    n_frames = info.n_frames
    if not n_frames and info.duration_s and info.fps:
        n_frames = int(round(info.duration_s * info.fps))
    return Probe("video", VIDEO_FORMATS[demuxer], n_frames, date)


def _plausible(moment: datetime | None) -> str | None:
    """A metadata date worth believing (cameras write 1904 or 1970 when they know none)."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone().replace(tzinfo=None)
    if moment.year < 1995 or moment > datetime.now() + timedelta(days=1):
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _video_date(container) -> str | None:
    tags = dict(container.metadata)
    for stream in container.streams.video:
        for key, value in stream.metadata.items():
            tags.setdefault(key, value)
    for key in ("com.apple.quicktime.creationdate", "creation_time", "date"):
        value = tags.get(key)
        if not value:
            continue
        try:
            return _plausible(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        except ValueError:
            continue
    return None


def _image_date(path: Path) -> str | None:
    from PIL import Image

    try:
        with Image.open(path) as picture:
            exif = picture.getexif()
            value = exif.get_ifd(0x8769).get(36867) or exif.get(306)
    except (OSError, ValueError, KeyError):
        return None
    if not value:
        return None
    try:
        return _plausible(datetime.strptime(str(value).strip(), "%Y:%m:%d %H:%M:%S"))
    except ValueError:
        return None
