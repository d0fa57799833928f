"""The awkward- and bad-input corpus: every kind of file a user may hand facescore gets its
right answer.

Valid but awkward recordings (other codecs, bit depths, rotation, timing, sizes, containers,
several faces, a face lost for a while, damage) give a clean analysis, with a warning where
one is due. Bad input (not a video, too little of one, no face, nonsense sidecars and
manifests) gives exit status 2, one line on stderr, no traceback, and nothing written. Names
holding HTML, script, newlines or hundreds of characters are inert in every HTML page. And an
analysis opens no network socket.

Every file is built here from the phantom's frames (``conftest.clip_frames``), once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from clips import write_audio, write_video
from markupsafe import escape as html_escape
from PIL import Image

from facescore.cli import EXIT_INPUT, main
from facescore.landmarks import SEARCH_EVERY
from facescore.report import validate_report

X265 = {"x265-params": "log-level=error"}
#: The frames of the face_lost clip with no face in them.
LOST_FRAMES = range(12, 24)


# --- building the corpus -------------------------------------------------------------------------

def _portrait(frames):
    """Portrait frames (240 x 320) stored turned a quarter clockwise, as a phone does."""
    tall = [cv2.copyMakeBorder(f, 40, 40, 0, 0, cv2.BORDER_REPLICATE) for f in frames]
    return [np.ascontiguousarray(np.rot90(f, -1)) for f in tall]


def _two_faces(frames):
    canvas = []
    for f in frames:
        picture = np.full((300, 460, 3), 90, np.uint8)
        picture[30:270, :240] = f
        picture[90:230, 300:440] = cv2.resize(f, (140, 140), interpolation=cv2.INTER_AREA)
        canvas.append(picture)
    return canvas


def _vfr_times(n: int) -> list[int]:
    steps = np.random.default_rng(0).integers(22, 48, n)
    times = np.cumsum(steps) - steps[0]
    return [int(t) for t in times]


def _cut(source: Path, target: Path, share: float) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * share)])
    return target


def _damage_middle(source: Path, target: Path) -> Path:
    """``source`` with 2000 random bytes from the start of its middle packet (its NAL length
    field and slice header on). Random bytes at a fixed offset landed, depending on the encode,
    where the decoder conceals them without an error; a packet's start it cannot."""
    import av

    with av.open(str(source)) as container:
        starts = [p.pos for p in container.demux(video=0) if p.size and p.pos is not None]
    middle = starts[len(starts) // 2]
    data = bytearray(source.read_bytes())
    data[middle:middle + 2000] = np.random.default_rng(1).integers(0, 255, 2000,
                                                                   np.uint8).tobytes()
    target.write_bytes(bytes(data))
    return target


class Corpus:
    """Builds each corpus file on first use, into one folder."""

    def __init__(self, root: Path, frames: list[np.ndarray]):
        self.root = root
        self.frames = frames
        self._built: dict[str, Path] = {}

    def __getitem__(self, kind: str) -> Path:
        if kind not in self._built:
            self._built[kind] = getattr(self, "_" + kind)()
        return self._built[kind]

    def _video(self, name: str, frames=None, **kwargs) -> Path:
        return write_video(self.root / name, self.frames if frames is None else frames, **kwargs)

    # valid but awkward
    def _hevc(self):
        return self._video("hevc.mp4", codec="libx265", options=X265)

    def _ten_bit(self):
        return self._video("ten_bit.mkv", codec="libx265", pix_fmt="yuv420p10le", options=X265)

    def _rotated_phone(self):
        return self._video("rotated.mp4", _portrait(self.frames), rotation=90)

    def _vfr_phone(self):
        return self._video("vfr.mp4", times_ms=_vfr_times(len(self.frames)))

    def _odd_size(self):
        odd = [cv2.resize(f, (241, 187), interpolation=cv2.INTER_AREA) for f in self.frames]
        return self._video("odd.mp4", odd, pix_fmt="yuv444p")

    def _animated_gif(self):
        return self._video("animated.gif", self.frames[::2], codec="gif", pix_fmt="rgb8", fps=15)

    def _webm_vp9(self):
        return self._video("clip.webm", codec="libvpx-vp9", options={"deadline": "realtime",
                                                                     "cpu-used": "8"})

    def _sound_first(self):
        return self._video("with_sound.mp4", audio=True)

    def _several_faces(self):
        return self._video("two_faces.mp4", _two_faces(self.frames))

    def _face_lost(self):
        lost = [np.full_like(f, 40) if i in LOST_FRAMES else f for i, f in enumerate(self.frames)]
        return self._video("face_lost.mp4", lost)

    def _long_mkv(self):
        return self._video("long.mkv", self.frames * 2, container_format="matroska")

    def _truncated(self):
        return _cut(self["long_mkv"], self.root / "truncated.mkv", 0.7)

    def _long_mp4(self):
        # Index first and a key frame every half second, as streaming-ready phone exports.
        return self._video("long.mp4", self.frames * 2, options={"g": "15"},
                           container_options={"movflags": "faststart"})

    def _damaged(self):
        return _damage_middle(self["long_mp4"], self.root / "damaged.mp4")

    def _photo(self):
        path = self.root / "photo.png"
        Image.fromarray(self.frames[0]).save(path)
        return path

    def _photo_two_faces(self):
        path = self.root / "photo_two_faces.jpg"
        Image.fromarray(_two_faces(self.frames[:1])[0]).save(path, quality=92)
        return path

    # bad
    def _zero_bytes(self):
        path = self.root / "zero.mp4"
        path.write_bytes(b"")
        return path

    def _text(self):
        path = self.root / "notes.mp4"
        path.write_text("patient notes, not a video\n" * 40)
        return path

    def _random_bytes(self):
        path = self.root / "random.mov"
        path.write_bytes(np.random.default_rng(2).integers(0, 255, 50_000, np.uint8).tobytes())
        return path

    def _truncated_to_nothing(self):
        return _cut(self["long_mkv"], self.root / "cut_at_once.mkv", 0.03)

    def _truncated_too_early(self):
        return _cut(self["long_mkv"], self.root / "cut_early.mkv", 0.25)

    def _truncated_no_index(self):
        # An MP4 whose index (written last) was cut off: nothing in it can be located.
        whole = self._video("index_last.mp4")
        return _cut(whole, self.root / "cut_no_index.mp4", 0.8)

    def _audio_only(self):
        return write_audio(self.root / "sound.m4a")

    def _one_frame(self):
        return self._video("one_frame.mp4", self.frames[:1])

    def _too_short(self):
        return self._video("short.mp4", self.frames[:15])

    def _huge_video(self):
        return self._video("huge.avi", [np.zeros((16, 17_000, 3), np.uint8)] * 2,
                           codec="mjpeg", pix_fmt="yuvj420p")

    def _huge_image(self):
        path = self.root / "huge.png"
        Image.new("1", (20_000, 20_000)).save(path)
        return path

    def _no_face(self):
        rng = np.random.default_rng(3)
        return self._video("no_face.mp4", [rng.integers(0, 255, (120, 160, 3), np.uint8)
                                           for _ in range(40)])

    def _text_as_photo(self):
        path = self.root / "photo.jpg"
        path.write_text("not a photo")
        return path

    def _folder(self):
        path = self.root / "a_folder.mp4"
        path.mkdir()
        return path

    def _missing(self):
        return self.root / "nothing_here.mp4"


@pytest.fixture(scope="session")
def corpus(clip_frames, tmp_path_factory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("corpus"), clip_frames)


# --- running facescore on it ---------------------------------------------------------------------

def _analyze(path: Path, out: Path, capsys, *extra: str) -> tuple[int, str, str]:
    code = main(["analyze", str(path), "-o", str(out), "-q", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _refused(code: int, err: str, where: Path, out: Path, fragment: str = "") -> None:
    """The answer to bad input: exit 2, one line naming the problem, nothing written."""
    line = err.strip()
    assert code == EXIT_INPUT, err
    assert line.startswith("facescore: error:") and "\n" not in line, err
    assert "Traceback" not in err
    assert fragment.lower() in line.lower(), line
    assert not out.exists()
    assert not [p for p in where.iterdir() if p.name.startswith(".")], "a staging folder is left"


def _report(out: Path) -> tuple[dict, str]:
    report = json.loads((out / "report.json").read_text())
    validate_report(report)
    return report, (out / "report.html").read_text(encoding="utf-8")


#: Valid recordings: each must give a clean analysis that finds the clip's brow raise, and
#: none of them is damaged. Warnings are checked where one is due (below).
VALID = ["hevc", "ten_bit", "rotated_phone", "vfr_phone", "odd_size", "animated_gif",
         "webm_vp9", "sound_first"]


@pytest.mark.parametrize("kind", VALID)
def test_awkward_but_valid_recording_is_analysed(kind, corpus, tmp_path, capsys):
    code, _, err = _analyze(corpus[kind], tmp_path / "out", capsys)
    assert code == 0, err
    report, html = _report(tmp_path / "out")
    assert report["input"]["damage"] is None
    assert report["quality"]["face_found_fraction"] > 0.95
    assert "brow_raise" in [m["movement"] for m in report["movements"]], kind
    assert "Not a diagnostic device" in html


def test_rotated_phone_video_is_measured_upright(corpus, tmp_path, capsys):
    code, _, err = _analyze(corpus["rotated_phone"], tmp_path / "out", capsys)
    assert code == 0, err
    report, _ = _report(tmp_path / "out")
    assert report["input"]["rotation_deg"] == 90
    assert (report["input"]["width"], report["input"]["height"]) == (240, 320)


def test_variable_frame_rate_keeps_true_times(corpus, clip_frames, tmp_path, capsys):
    code, _, err = _analyze(corpus["vfr_phone"], tmp_path / "out", capsys)
    assert code == 0, err
    report, _ = _report(tmp_path / "out")
    times = _vfr_times(len(clip_frames))
    assert report["input"]["n_frames"] == len(clip_frames)
    assert report["input"]["duration_s"] == pytest.approx(times[-1] / 1000, abs=0.002)


def test_odd_frame_size_is_kept(corpus, tmp_path, capsys):
    code, _, err = _analyze(corpus["odd_size"], tmp_path / "out", capsys)
    assert code == 0, err
    report, _ = _report(tmp_path / "out")
    assert (report["input"]["width"], report["input"]["height"]) == (241, 187)


def test_several_faces_are_analysed_with_a_warning(corpus, tmp_path, capsys):
    code, out, err = _analyze(corpus["several_faces"], tmp_path / "out", capsys)
    assert code == 0, err
    report, html = _report(tmp_path / "out")
    warning = next(w for w in report["quality"]["warnings"] if "faces in view" in w)
    assert "largest, most central" in warning and warning in out and warning in html


def test_face_lost_mid_video_is_analysed_with_a_warning(corpus, tmp_path, capsys):
    code, out, err = _analyze(corpus["face_lost"], tmp_path / "out", capsys)
    assert code == 0, err
    report, _ = _report(tmp_path / "out")
    # No blank frame is taken for a face, and every frame with one is found but those before
    # the search that finds it again (while no face is in view it runs every SEARCH_EVERY
    # frames: a full search costs ~25 model calls).
    n, blank = len(corpus.frames), len(LOST_FRAMES)
    found = report["quality"]["face_found_fraction"]
    assert (n - blank - (SEARCH_EVERY - 1)) / n <= found <= (n - blank) / n
    assert any(w.startswith("no face in") for w in report["quality"]["warnings"])
    assert "warning: no face in" in out


@pytest.mark.parametrize("kind", ["truncated", "damaged"])
def test_damaged_video_is_analysed_as_far_as_it_reads(kind, corpus, clip_frames, tmp_path,
                                                      capsys):
    code, out, err = _analyze(corpus[kind], tmp_path / "out", capsys)
    assert code == 0, err
    report, html = _report(tmp_path / "out")
    damage = report["input"]["damage"]
    assert damage is not None and damage["description"].startswith("video damaged")
    assert damage["readable_frames"] == report["input"]["n_frames"] < 2 * len(clip_frames)
    if kind == "truncated":
        assert damage["ends_early"] and damage["readable_s"] < damage["declared_s"] - 1
    else:
        assert damage["skipped_packets"] > 0
    assert any(w.startswith("video damaged") for w in report["quality"]["warnings"])
    assert "warning: video damaged" in out
    # Stated at the top: before the summary, right under the title.
    assert 'id="damage"' in html and html.index('id="damage"') < html.index('id="summary"')


def test_photo_gives_a_resting_report(corpus, tmp_path, capsys):
    code, out, err = _analyze(corpus["photo"], tmp_path / "out", capsys)
    assert code == 0, err
    report, html = _report(tmp_path / "out")
    assert report["input"]["kind"] == "image"
    assert report["movements"] == [] and report["not_performed"] == []
    for name in ("brow_height", "palpebral_fissure", "mouth_corner_height"):
        item = report["rest"][name]
        assert item["left"] is not None and item["right"] is not None and item["reference"]
        assert str(html_escape(item["reference"])) in html
    # The astronaut smiles: a face not at rest is said to be so, not called resting symmetry.
    shown = report["rest"].get("expression")
    assert ("not rest" in out and all(e.replace("_", " ") in out for e in shown)) if shown \
        else "resting symmetry" in out
    # No empty or irrelevant sections: the photo is shown with its points, nothing else.
    assert "not found in the video" not in html and "Key frames" not in html
    assert 'id="time-series"' not in html and "data:image/png" not in html
    assert html.count("data:image/jpeg;base64,") == 1


def test_photo_with_several_faces_says_which_was_measured(corpus, tmp_path, capsys):
    code, _, err = _analyze(corpus["photo_two_faces"], tmp_path / "out", capsys)
    assert code == 0, err
    report, html = _report(tmp_path / "out")
    assert report["quality"]["max_faces_seen"] >= 2
    assert 'id="faces"' in html and "“measured”" in html
    assert html.count("data:image/jpeg;base64,") == 2  # the whole photo, and the face


#: Bad input, and a fragment of the one line that must say why.
BAD = {
    "zero_bytes": "empty", "text": "not a readable video", "random_bytes": "not a readable",
    "truncated_to_nothing": "no decodable frames", "truncated_too_early": "too short",
    "truncated_no_index": "cut short before its index",
    "audio_only": "only sound", "one_frame": "too short", "too_short": "too short",
    "huge_video": "larger than facescore reads", "huge_image": "larger than facescore reads",
    "no_face": "no face", "text_as_photo": "not a readable image", "folder": "folder",
    "missing": "no such file",
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_input_is_refused_in_one_line(kind, corpus, tmp_path, capsys):
    code, _, err = _analyze(corpus[kind], tmp_path / "out", capsys)
    _refused(code, err, tmp_path, tmp_path / "out", BAD[kind])


def test_bad_input_from_the_shell_prints_no_traceback(corpus, tmp_path):
    """The same through a real process: stderr holds one line, whatever Python does."""
    for kind in ("random_bytes", "huge_image", "audio_only"):
        result = subprocess.run([sys.executable, "-m", "facescore", "analyze",
                                 str(corpus[kind]), "-o", str(tmp_path / "out"), "-q"],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == EXIT_INPUT
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("facescore: error:")
        assert not (tmp_path / "out").exists()


# --- sidecars ------------------------------------------------------------------------------------

SIDECARS = {
    "end_before_start": ("start,end,movement\n1.5,1.0,brow_raise\n", "must follow start"),
    "not_a_number": ("start,end,movement\n0.8,1.8s,brow_raise\n", "not a number"),
    "negative": ("start,end,movement\n-0.5,1.0,brow_raise\n", "0 s or more"),
    "not_finite": ("start,end,movement\n0.8,inf,brow_raise\n", "0 s or more"),
    "empty_time": ("start,end,movement\n,1.0,brow_raise\n", "empty"),
    "after_the_end": ("start,end,movement\n5.0,6.0,brow_raise\n", "after the video"),
    "unknown_movement": ("start,end,movement\n0.8,1.8,wink\n", "unknown movement"),
    "overlap": ("start,end,movement\n0.8,1.8,brow_raise\n1.5,2.2,smile\n", "overlap"),
    "no_rows": ("start,end,movement\n", "lists no movement"),
    "missing_column": ("start,movement\n0.8,brow_raise\n", "lacks column"),
}


@pytest.mark.parametrize("kind", sorted(SIDECARS))
def test_bad_sidecar_is_refused_before_any_work(kind, clip, tmp_path, capsys):
    content, fragment = SIDECARS[kind]
    sidecar = tmp_path / "segments.csv"
    sidecar.write_text(content)
    code, _, err = _analyze(clip, tmp_path / "out", capsys, "--segments", str(sidecar))
    _refused(code, err, tmp_path, tmp_path / "out", fragment)


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1"])
def test_sidecar_in_another_encoding_is_refused(encoding, clip, tmp_path, capsys):
    sidecar = tmp_path / "segments.csv"
    sidecar.write_bytes("start,end,movement\n0.8,1.8,brow_raise\n# é\n".encode(encoding))
    code, _, err = _analyze(clip, tmp_path / "out", capsys, "--segments", str(sidecar))
    _refused(code, err, tmp_path, tmp_path / "out", "not UTF-8")


def test_json_sidecar_of_the_wrong_shape_is_refused(clip, tmp_path, capsys):
    sidecar = tmp_path / "segments.json"
    sidecar.write_text('{"start": 0.8, "end": 1.8, "movement": "brow_raise"}')
    code, _, err = _analyze(clip, tmp_path / "out", capsys, "--segments", str(sidecar))
    _refused(code, err, tmp_path, tmp_path / "out", "JSON list")


# --- manifests -----------------------------------------------------------------------------------

def _batch_refused(tmp_path, capsys, manifest: Path, fragment: str) -> None:
    out = tmp_path / "study"
    code = main(["batch", str(manifest), "-o", str(out), "--workers", "1", "-q"])
    _refused(code, capsys.readouterr().err, tmp_path, out, fragment)


@pytest.fixture
def listed(clip, tmp_path) -> Path:
    """A folder with two recordings, for manifests to list."""
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(clip, folder / name)
    return folder


MANIFESTS = {
    "missing_file": ("path,subject\nvideos/a.mp4,s1\nvideos/gone.mp4,s2\n", "not found"),
    "duplicate": ("path,subject\nvideos/a.mp4,s1\nvideos/b.mp4,s2\nvideos/./a.mp4,s3\n",
                  "twice"),
    "unquoted_comma": ("path,subject\nvideos/a.mp4,s1\nvideos/b, take 2.mp4,s2\n",
                       "expected 2 fields"),
    "unbalanced_quote": ('path,subject\nvideos/a.mp4,s1\n"videos/b.mp4,s2\n', "EOF inside string"),
    "no_path_column": ("file,subject\nvideos/a.mp4,s1\n", "no 'path' column"),
    "clashing_column": ("path,movement\nvideos/a.mp4,smile\n", "clash"),
    "empty": ("", "empty"),
    "no_path": ("path,subject\n,s1\n", "no path"),
}


@pytest.mark.parametrize("kind", sorted(MANIFESTS))
def test_bad_manifest_is_refused_before_any_work(kind, listed, tmp_path, capsys):
    content, fragment = MANIFESTS[kind]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(content)
    _batch_refused(tmp_path, capsys, manifest, fragment)


def test_manifest_with_non_utf8_names_is_refused(listed, tmp_path, capsys):
    manifest = tmp_path / "manifest.csv"
    manifest.write_bytes("path,subject\nvideos/a.mp4,Zoë\nvideos/b.mp4,José\n"
                         .encode("latin-1"))
    _batch_refused(tmp_path, capsys, manifest, "not UTF-8")


#: A name that tries everything: markup, script, an event handler, quotes, commas, a newline
#: and length (a file name may hold at most 255 bytes and no "/"; the folders make the path
#: longer than 300 characters).
HOSTILE = ('<script>alert(1)<\u2215script>, "quoted" \'it\'s\' <img src=x onerror=alert(2)>\n'
           '&amp; <b>bold<\u2215b> ' + "long" * 38)


class _Tags(HTMLParser):
    """Every element and attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def assert_inert(page: str) -> None:
    """No script, no event handler, no markup that the name brought; the name is text."""
    parser = _Tags()
    parser.feed(page)
    assert not [t for t, _ in parser.tags if t in ("script", "iframe", "object", "embed", "b")]
    assert not [a for _, attrs in parser.tags for a in attrs if a.lower().startswith("on")]
    for tag, attrs in parser.tags:
        if tag == "img":
            assert attrs["src"].startswith("data:image/"), attrs["src"][:40]
    assert "&lt;script&gt;alert(1)" in page


def test_hostile_names_are_inert_in_every_page(clip, tmp_path, capsys):
    folder = tmp_path / ("deep " * 20).strip() / ("deeper " * 20).strip()
    folder.mkdir(parents=True)
    video = folder / f"{HOSTILE}.mp4"
    assert len(os.fsencode(video.name)) <= 255 and len(str(video)) > 300
    shutil.copy(clip, video)
    # The report, through a manifest (the name quoted as CSV wants), so the batch handles it.
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame({"path": [str(video)], "note": [HOSTILE]}).to_csv(manifest, index=False)
    study = tmp_path / "study"
    assert main(["batch", str(manifest), "-o", str(study), "--workers", "1", "-q"]) == 0
    capsys.readouterr()
    table = pd.read_csv(study / "videos.csv")
    assert table["path"].tolist() == [str(video)] and table["note"].tolist() == [HOSTILE]
    (report_dir,) = [p for p in (study / "videos").iterdir() if p.is_dir()]
    assert len(report_dir.name) < 100
    assert_inert((report_dir / "report.html").read_text(encoding="utf-8"))
    # The comparison page names both reports.
    named = tmp_path / f"{HOSTILE[:60]}"
    shutil.copytree(report_dir, named)
    assert main(["compare", str(named), str(report_dir), "-o", str(tmp_path / "cmp")]) == 0
    capsys.readouterr()
    assert_inert((tmp_path / "cmp" / "compare.html").read_text(encoding="utf-8"))
    # The history page, with a hostile profile name of 300 characters.
    from facescore import history

    profile = ("<script>alert(1)</script>\n" + HOSTILE + "x" * 300)[:300]
    db = tmp_path / "h.sqlite"
    connection = history.connect(db)
    summary = json.loads((report_dir / "report.json").read_text())["summary"]
    history.record_session(connection, profile, summary, str(report_dir / "report.html"),
                           str(video))
    connection.close()
    assert main(["history", "--db", str(db), "-o", str(tmp_path / "hist")]) == 0
    printed = capsys.readouterr().out.splitlines()
    rows = len(summary["per_movement"])
    assert len(printed) == 1 + rows + 1  # header, one line per movement, the file names
    assert_inert((tmp_path / "hist" / "history.html").read_text(encoding="utf-8"))


def test_file_name_that_is_not_utf8_is_reported_readably(clip, tmp_path, capsys):
    raw = os.fsdecode(b"caf\xe9.mp4")  # a Latin-1 name, as another system may have made it
    video = tmp_path / raw
    shutil.copy(clip, video)
    code, _, err = _analyze(video, tmp_path / "out", capsys)
    assert code == 0, err
    report, html = _report(tmp_path / "out")
    assert report["input"]["path"].endswith("caf\\xe9.mp4")
    assert "caf\\xe9.mp4" in html


# --- no network ----------------------------------------------------------------------------------

STRACE = shutil.which("strace")


@pytest.mark.skipif(STRACE is None, reason="strace is not installed")
def test_an_analysis_opens_no_network_connection(clip, tmp_path):
    """Traced in every process and thread (the landmark process too): no connection made, no
    packet sent, nothing listened for on a network address. (Libraries may open and close a
    socket to probe for IPv4/IPv6 support; that sends nothing.)"""
    trace = tmp_path / "trace.txt"
    result = subprocess.run(
        [STRACE, "-f", "-qq", "-e", "trace=connect,bind,sendto,sendmsg,sendmmsg", "-o",
         str(trace), sys.executable, "-m", "facescore", "analyze", str(clip), "-o",
         str(tmp_path / "out"), "-q"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "FACESCORE_LANDMARK_PROCESS": "1"})
    if result.returncode != 0 and "ptrace" in result.stderr:
        pytest.skip("tracing is not permitted here")
    assert result.returncode == 0, result.stderr
    network = [line for line in trace.read_text().splitlines()
               if re.search(r"sa_family=AF_INET|sin6?_port", line)]
    assert network == [], network
    assert (tmp_path / "out" / "report.html").exists()
