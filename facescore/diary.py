"""A photo diary: dated photos of one face become a series per expression, each side measured.

A patient who photographs the same expression every few days (a "biggest smile" selfie each
morning) builds a record of recovery. :func:`analyze_photos` turns such photos into a
:class:`Diary`:

1. **When** each photo was taken: EXIF ``DateTimeOriginal`` (tag 36867), else EXIF
   ``DateTime`` (306), else a date in the file name (``2026-03-14``, ``20260314``,
   ``IMG_20260314_101530``), else only the order given (:func:`photo_date`). Each photo says
   which.
2. **What** the face shows. A photo whose expression scores (MediaPipe's blendshapes, read at
   their absolute levels, :func:`facescore.recognition.photo_expression`) show nothing is a
   *rest* photo; so is any photo named as rest by the caller (some faces read as smiling at
   rest: scikit-image's astronaut reads ``mouthSmile`` 0.9). With a rest photo in the series,
   the other photos' movement is what each side measurably did against it — the movement
   whose stronger side moved farthest for its kind, as in a video — and the expression scores'
   rise above the rest photo's only rename it when another expression (a pucker, an open
   mouth…) dominates (:func:`facescore.recognition.recognise`). Without a rest photo, the
   scores' levels name it.
3. **How far each side moved**: against the series' rest photo nearest in time, by the same
   prior-free measure as a video (:mod:`facescore.motion`: landmark-seeded patches of the rest
   photo found again in the photo by optical flow, the head's own motion taken out on the
   nasal ridge), in mm from the rest photo's iris (11.7 mm). Landmark positions alone were
   measured on phantom photos and pulled toward symmetry (a frozen smile side read 1.5-1.6 mm
   of the other's 8, against -0.1-0.0 mm by the flow; docs/measurement.md). Each excursion has a
   95 % interval from the measure's noise (rest photos compared with each other: the series'
   own when it has two or more, never below what the phantoms measured) and a relative term;
   a side is named weaker only as for a video (:func:`facescore.uncertainty.weaker_side`).
   Without a rest photo nothing can be said of movement: each photo's per-side positions
   (brow height, eye opening, mouth corner) and their left-right differences are given
   instead, and the diary says so.

Only the command line prints; this module raises :class:`facescore.errors.FacescoreError`
subclasses with one-line messages for bad input.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__, features, geometry, model, recognition, uncertainty
from .anatomy import SIDES
from .errors import FaceError, SourceError
from .protocol import MOVEMENTS
from .scores import MIN_COMPARABLE_MM, TYPICAL_MM, symmetry_pct
from .sources import IMAGE_SUFFIXES

REST = "rest"
#: Phantom-measured noise of one side's excursion between two photos of a face at rest, mm
#: (robust SD of six rest photos framed differently against a seventh; astronaut / neutral.jpeg:
#: brow 0.14 / 0.26, eye 0.05 / 0.04, smile 0.11 / 0.10; ``python benchmarks/photo_diary.py``),
#: rounded up. A floor: a series with two or more rest photos measures its own.
PHOTO_NOISE_MM = {"brow_raise": 0.3, "eye_closure": 0.2, "smile": 0.2, "frown": 0.3}
#: Error proportional to the excursion: on phantom photos the moving side read 5-12 % short
#: (the patches deform in one step), and the iris scale is 11.7 ± 0.5 mm between people.
PHOTO_RELATIVE_ERROR = 0.1
#: A movement is read in a photo only when its stronger side moved this many times its noise
#: SD, and at least :data:`facescore.scores.MIN_COMPARABLE_MM`.
STAND_OUT_SD = 4.0
#: Head turned farther than this (deg) from the rest photo: the photo's measure is noted as
#: less reliable (the video tracker makes a new reference there).
POSE_NOTE_DEG = 6.0
#: The static positions given for every photo (without a rest photo, all there is), mm.
POSITIONS = {"brow_height": "brow height above the eye corners",
             "eye_aperture_lm": "eye opening (upper to lower lid)",
             "mouth_corner_height": "mouth-corner height (from the nose, up)",
             "mouth_corner_lateral": "mouth-corner distance from the midline"}

_NAME_DATE = re.compile(
    r"(?<!\d)((?:19|20)\d{2})[-_.]?(0[1-9]|1[0-2])[-_.]?(0[1-9]|[12]\d|3[01])"
    r"(?:[-_. T]?([01]\d|2[0-3])[-_.:h]?([0-5]\d)(?:[-_.:m]?([0-5]\d))?)?(?!\d)")


# --- dates ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PhotoDate:
    """When a photo was taken and how that is known.

    Attributes
    ----------
    taken : datetime or None
        None when only the order given is known.
    source : str
        ``EXIF DateTimeOriginal``, ``EXIF DateTime``, ``file name`` or ``order given``.
    """

    taken: datetime | None
    source: str


def _exif_datetime(text) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text.strip().rstrip("\x00")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def date_from_exif(exif) -> PhotoDate | None:
    """The date in a photo's EXIF (a PIL ``Image.Exif``), or None.

    ``DateTimeOriginal`` (36867, in the Exif sub-IFD; some writers put it in the main one)
    before ``DateTime`` (306, when the file was last changed).
    """
    original = None
    try:
        original = exif.get_ifd(0x8769).get(36867)
    except Exception:  # a damaged sub-IFD: the other tags may still be read
        original = None
    for value, source in ((original, "EXIF DateTimeOriginal"),
                          (exif.get(36867), "EXIF DateTimeOriginal"),
                          (exif.get(306), "EXIF DateTime")):
        taken = _exif_datetime(value)
        if taken is not None:
            return PhotoDate(taken, source)
    return None


def date_from_name(name: str) -> datetime | None:
    """A date (and time, when given) in a file name: ``2026-03-14``, ``20260314``,
    ``IMG_20260314_101530``, ``2026_03_14-08.30``; None when there is none or it is
    impossible (``20260230``)."""
    for match in _NAME_DATE.finditer(name):
        year, month, day, hour, minute, second = match.groups()
        try:
            return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                            int(second or 0))
        except ValueError:
            continue
    return None


def photo_date(path: str | Path) -> PhotoDate:
    """When the photo at ``path`` was taken: EXIF, else its file name, else unknown
    (``order given``)."""
    from PIL import Image

    path = Path(path)
    try:
        with Image.open(path) as image:
            found = date_from_exif(image.getexif())
    except Exception:  # unreadable EXIF: the name may still carry the date
        found = None
    if found is not None:
        return found
    taken = date_from_name(path.stem)
    return PhotoDate(taken, "file name") if taken else PhotoDate(None, "order given")


# --- inputs --------------------------------------------------------------------------------------

def list_photos(paths: Sequence[str | Path]) -> list[Path]:
    """The photos named: files as given, folders' files in name order (hidden files skipped).

    Raises
    ------
    SourceError
        Nothing given, a path that does not exist, an empty folder, or a file in a folder that
        is not a photo (by its name; its content is checked when it is read).
    """
    found: list[Path] = []
    for item in map(Path, paths):
        if not item.exists():
            raise SourceError(f"no such file or folder: {item}")
        if item.is_dir():
            files = sorted((p for p in item.iterdir() if not p.name.startswith(".")),
                           key=lambda p: _natural(p.name))
            others = [p for p in files if p.is_dir() or p.suffix.lower() not in IMAGE_SUFFIXES]
            if others:
                raise SourceError(f"{others[0]} is not a photo (photos end in "
                                  f"{', '.join(sorted(IMAGE_SUFFIXES))}); move it out of {item}")
            if not files:
                raise SourceError(f"no photos in {item}")
            found += files
        else:
            found.append(item)
    if not found:
        raise SourceError("no photos given")
    return list(dict.fromkeys(found))


def _natural(name: str) -> list:
    """Sort key: ``photo2`` before ``photo10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


# --- one photo -----------------------------------------------------------------------------------

@dataclass
class _Face:
    """A photo's picture and its face, as measured (internal)."""

    rgb: np.ndarray
    points: np.ndarray  # (478, 3) image px
    matrix: np.ndarray  # (4, 4)
    head: np.ndarray  # (478, 3) head-fixed px
    mm_per_px: float
    scores: pd.DataFrame  # one row: bs_* columns
    yaw: float
    pitch: float
    n_faces: int


def _read_face(path: Path, tracker, mirrored: bool) -> _Face:
    """Read one photo and find its face (the largest, most central one).

    Raises
    ------
    SourceError
        Not a readable image.
    FaceError
        No face, or one too small to measure.
    """
    from .landmarks import choose_face
    from .pipeline import MIN_IOD_PX, WORKING_MAX_SIDE
    from .sources import ImageSource

    with ImageSource(path, mirrored=mirrored, max_side=WORKING_MAX_SIDE) as source:
        frame = next(iter(source))
    rgb = frame.rgb
    tracker.n_faces_seen = 0
    candidates = tracker.search(rgb)
    if not candidates:
        raise FaceError(f"no face found in {path}")
    chosen = choose_face(candidates, rgb.shape[1], rgb.shape[0])
    # Refined on a crop around the chosen face, as a video's frames are (the full-picture
    # search sees faces at the detector's low resolution).
    tracker.follow(chosen)
    face = tracker.track(frame)
    if face is None:
        raise FaceError(f"no face found in {path} (one was seen, but could not be measured)")
    iod = float(np.linalg.norm(face.points[473, :2] - face.points[468, :2]))
    if iod < MIN_IOD_PX:
        raise FaceError(f"face too small in {path}: {iod:.0f} px between the eyes (need at "
                        f"least {MIN_IOD_PX:.0f})")
    head = geometry.head_fixed(face.points, face.matrix)
    pose = geometry.head_pose(face.matrix)
    scores = pd.DataFrame([features.blendshape_columns(face.blendshapes or {})])
    return _Face(rgb, face.points, face.matrix, head,
                 geometry.IRIS_DIAMETER_MM / geometry.iris_diameter_px(head), scores,
                 pose.yaw, pose.pitch, tracker.n_faces_seen)


def static_positions(face: _Face) -> dict[str, dict[str, float]]:
    """Each side's positions (:data:`POSITIONS`) in one photo, mm, by its own iris scale."""
    out = {}
    for side in SIDES:
        px = features.side_positions(face.head, side)
        out[side] = {name: px[name] * face.mm_per_px for name in POSITIONS}
    return out


def excursions_against(rest: _Face, photo: _Face) -> tuple[dict[str, dict[str, float]], float]:
    """How far each side moved from ``rest`` to ``photo`` for every measured movement, mm.

    The rest photo is the reference (an anchor of :class:`facescore.motion.AnchoredTracker`),
    and the photo is measured against it on its own (``independent``): patches seeded on the
    rest photo's landmarks are found in the photo, the head's motion is taken out on the
    nasal ridge, and the displacements are turned into the head's axes and into each
    movement's activation (:func:`facescore.segments.activation`). Head rotation out of the
    picture's plane is not corrected: the pose the landmark model reports is itself pulled by
    expressions (on phantom photos with no rotation, correcting it moved a frozen side by up
    to 0.55 mm).

    Returns
    -------
    moved : dict of movement to {side: float}
        NaN where the region could not be measured (patches lost, eye model not fitting).
    pose_difference_deg : float
        Angle between the two photos' head poses.
    """
    from .motion import AnchoredTracker
    from .pipeline import _reading_row
    from .segments import activation
    from .signals import (
        MIN_CONFIDENCE,
        SignalSettings,
        confidence,
        euler_angles,
        head_plane_signals,
    )

    tracker = AnchoredTracker()
    rows = []
    for index, face in enumerate((rest, photo)):
        reading = tracker.update(face.rgb, face.points, face.matrix, index, head=face.head,
                                 independent=index > 0)
        pitch, yaw, roll = euler_angles(geometry.rotation_from_matrix(face.matrix))
        rows.append({"frame": index, "t_s": float(index), "face_found": True,
                     "pitch_rad": pitch, "yaw_rad": yaw, "roll_rad": roll,
                     **_reading_row(reading)})
    raw = pd.DataFrame(rows)
    signals = head_plane_signals(raw, tracker.anchors, rest.mm_per_px,
                                 SignalSettings(pose_window_s=0.0, correct_parallax=False))
    trust = confidence(raw).iloc[1]
    row = signals.iloc[[1]].reset_index(drop=True)
    regions = {"brow_raise": "brow", "frown": "brow", "smile": "mouth", "eye_closure": "eye"}
    moved: dict[str, dict[str, float]] = {}
    for movement in MOVEMENTS:
        moved[movement] = {}
        for side in SIDES:
            value = float(activation(row, movement, side)[0])
            if trust[f"confidence_{regions[movement]}_{side}"] < MIN_CONFIDENCE:
                value = float("nan")
            if movement == "eye_closure" and np.isfinite(value):
                # A lid cannot travel past the lower lid (as in a video's table).
                aperture = features.side_positions(rest.head, side)["eye_aperture_lm"]
                value = min(value, aperture * rest.mm_per_px)
            moved[movement][side] = value
    difference = float(np.hypot(photo.yaw - rest.yaw, photo.pitch - rest.pitch))
    return moved, difference


# --- the series ----------------------------------------------------------------------------------

@dataclass
class DiaryPhoto:
    """One photo of the series.

    Attributes
    ----------
    path : Path
    order : int
        Position in the order given, from 0.
    date : PhotoDate
    expression : str
        ``rest``, a measured movement (:data:`facescore.protocol.MOVEMENTS`), another
        expression (``lip_pucker``, ``other_expression``…), or ``unknown``.
    expression_basis : str
        How the expression was told, in words.
    reference : Path or None
        The rest photo the movement was measured against (None: no rest photo, or a rest photo).
    excursion : dict of side to Interval or None
        The movement's per-side excursion with its 95 % interval, mm (None: not measured).
    symmetry : Interval or None
        100 × weaker / stronger excursion, with its interval, %.
    weaker_side : str or None
        Named only when the evidence clears normal variation.
    positions : dict of side to {name: mm}
        Static per-side positions (:data:`POSITIONS`).
    notes : list of str
    """

    path: Path
    order: int
    date: PhotoDate
    expression: str
    expression_basis: str
    reference: Path | None = None
    excursion: dict[str, uncertainty.Interval | None] = field(default_factory=dict)
    symmetry: uncertainty.Interval | None = None
    weaker_side: str | None = None
    positions: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Every movement's per-side excursion against the reference, mm (the basis of the label).
    all_excursions: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The photo's date as people read it (its number when undated)."""
        taken = self.date.taken
        if taken is None:
            return f"photo {self.order + 1}"
        return taken.strftime("%Y-%m-%d %H:%M") if (taken.hour or taken.minute) \
            else taken.strftime("%Y-%m-%d")


@dataclass(frozen=True)
class SideTrend:
    """One side's excursion over a series: Theil-Sen slope with its 95 % interval.

    ``per`` is ``day`` when every photo is dated, else ``photo`` (the order given)."""

    slope_mm: float
    low_mm: float
    high_mm: float
    per: str
    n: int
    #: The series' span in ``per`` units (days or photos).
    span: float

    @property
    def change_mm(self) -> float:
        """The change the slope makes over the series, mm."""
        return self.slope_mm * self.span

    @property
    def direction(self) -> str:
        """``rising`` or ``falling`` when the slope's interval excludes zero and it changes the
        excursion by at least :data:`facescore.uncertainty.NORMAL_DIFFERENCE_MM` over the
        series (what one expression varies by when repeated); else ``no clear change``."""
        if abs(self.change_mm) < uncertainty.NORMAL_DIFFERENCE_MM:
            return "no clear change"
        if self.low_mm > 0:
            return "rising"
        if self.high_mm < 0:
            return "falling"
        return "no clear change"


@dataclass
class Diary:
    """A photo series: every photo measured, and each expression's trend per side.

    Attributes
    ----------
    photos : list of DiaryPhoto
        In time order (the order given when not every photo is dated).
    noise_mm : dict of movement to {side: float}
        The noise SD the intervals use, mm.
    noise_basis : str
        Where that noise comes from.
    trends : dict of movement to {side: SideTrend}
        Movements photographed at least three times with measured excursions.
    notes : list of str
        What the series as a whole lacks (no rest photo, undated photos).
    parameters : dict
    """

    photos: list[DiaryPhoto]
    noise_mm: dict[str, dict[str, float]]
    noise_basis: str
    trends: dict[str, dict[str, SideTrend]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    parameters: dict = field(default_factory=dict)

    @property
    def has_rest(self) -> bool:
        return any(p.expression == REST for p in self.photos)

    @property
    def dated(self) -> bool:
        return all(p.date.taken is not None for p in self.photos)

    def expressions(self) -> list[str]:
        """The measured movements the series holds, in the exam's order."""
        return [m for m in MOVEMENTS if any(p.expression == m for p in self.photos)]

    def table(self) -> pd.DataFrame:
        """The tidy table: one row per photo and side (see :data:`TABLE_COLUMNS`)."""
        rows = []
        for p in self.photos:
            for side in SIDES:
                interval = p.excursion.get(side)
                symmetry = p.symmetry
                rows.append({
                    "photo": p.path.name, "photo_order": p.order + 1,
                    "taken": p.date.taken.isoformat(sep=" ") if p.date.taken else None,
                    "date_source": p.date.source, "expression": p.expression,
                    "expression_basis": p.expression_basis,
                    "reference_rest_photo": p.reference.name if p.reference else None,
                    "side": side,
                    "excursion_mm": interval.value if interval else None,
                    "excursion_low_mm": interval.low if interval else None,
                    "excursion_high_mm": interval.high if interval else None,
                    "symmetry_pct": symmetry.value if symmetry else None,
                    "symmetry_low_pct": symmetry.low if symmetry else None,
                    "symmetry_high_pct": symmetry.high if symmetry else None,
                    "weaker_side": p.weaker_side,
                    **{f"{name.replace('_lm', '')}_mm": p.positions.get(side, {}).get(name)
                       for name in POSITIONS},
                    "notes": "; ".join(p.notes) or None,
                })
        return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


#: The tidy table's columns and what they hold.
TABLE_COLUMNS = {
    "photo": "file name",
    "photo_order": "position in the order given, from 1",
    "taken": "date and time taken (empty: unknown)",
    "date_source": "where the date came from: EXIF DateTimeOriginal, EXIF DateTime, file name "
                   "or order given",
    "expression": "rest, brow_raise, eye_closure, smile, frown, or another expression",
    "expression_basis": "how the expression was told",
    "reference_rest_photo": "the rest photo the movement was measured against",
    "side": "the patient's anatomical side",
    "excursion_mm": "the expression's travel on this side from the rest photo, mm",
    "excursion_low_mm": "its 95 % interval, low end, mm",
    "excursion_high_mm": "its 95 % interval, high end, mm",
    "symmetry_pct": "100 x weaker / stronger excursion, % (same on both rows)",
    "symmetry_low_pct": "its 95 % interval, low end, %",
    "symmetry_high_pct": "its 95 % interval, high end, %",
    "weaker_side": "the side that moved less, only beyond normal variation (same on both rows)",
    "brow_height_mm": "brow height above the eye corners in this photo, mm",
    "eye_aperture_mm": "eye opening, upper to lower lid, in this photo, mm",
    "mouth_corner_height_mm": "mouth-corner height from the nose (up is positive), mm",
    "mouth_corner_lateral_mm": "mouth-corner distance from the midline, mm",
    "notes": "what limits this photo's measure",
}


def _absolute_expression(scores: pd.DataFrame) -> tuple[str, list[str]]:
    """The expression the scores' levels show (``rest`` when none), and all they show."""
    shown = recognition.photo_expression(scores)
    if not shown:
        return REST, shown
    row = scores.iloc[[0]]

    def strength(name: str) -> float:
        columns, level = recognition.PHOTO_LEVELS[name]
        values = [float(recognition._score(row, c)[0]) for c in columns]
        return max(v for v in values if np.isfinite(v)) / level

    return max(shown, key=strength), shown


def _standing_out(moved: dict[str, dict[str, float]], noise: dict[str, dict[str, float]]
                  ) -> str | None:
    """The movement whose stronger side moved farthest for its kind (against
    :data:`facescore.scores.TYPICAL_MM`), among those that stand out of the noise."""
    best, best_share = None, 0.0
    for movement, sides in moved.items():
        values = [(v, noise[movement][s]) for s, v in sides.items() if np.isfinite(v)]
        if not values:
            continue
        value, sd = max(values)
        if value < max(STAND_OUT_SD * sd, MIN_COMPARABLE_MM):
            continue
        share = value / TYPICAL_MM[movement]
        if share > best_share:
            best, best_share = movement, share
    return best


def _nearest_rest(photo: DiaryPhoto, rests: list[DiaryPhoto]) -> DiaryPhoto:
    """The rest photo nearest in time (by order when undated); the earlier on a tie."""
    def distance(rest: DiaryPhoto) -> tuple[float, int]:
        if photo.date.taken and rest.date.taken:
            return abs((photo.date.taken - rest.date.taken).total_seconds()), rest.order
        return abs(photo.order - rest.order), rest.order

    return min(rests, key=distance)


def _series_noise(faces: dict[int, _Face], rests: list[DiaryPhoto]
                  ) -> tuple[dict[str, dict[str, float]], str]:
    """Noise SD per movement and side: the rest photos against each other when there are two
    or more (each against the first), never below :data:`PHOTO_NOISE_MM`."""
    floor = {m: {s: PHOTO_NOISE_MM[m] for s in SIDES} for m in MOVEMENTS}
    basis = ("phantom photos at rest measured against each other (the series has fewer than "
             "two rest photos to measure its own)")
    if len(rests) < 2:
        return floor, basis
    travels: dict[str, dict[str, list[float]]] = {m: {s: [] for s in SIDES} for m in MOVEMENTS}
    first = faces[rests[0].order]
    for other in rests[1:]:
        moved, _ = excursions_against(first, faces[other.order])
        for m in MOVEMENTS:
            for s in SIDES:
                if np.isfinite(moved[m][s]):
                    travels[m][s].append(moved[m][s])
    noise = {}
    for m in MOVEMENTS:
        noise[m] = {}
        for s in SIDES:
            values = np.array(travels[m][s])
            # The RMS of zero-mean differences: with a handful of rest photos a robust
            # estimate would mostly read the smallest.
            own = float(np.sqrt(np.mean(values ** 2))) if len(values) else 0.0
            noise[m][s] = max(own, floor[m][s])
    return noise, (f"the series' {len(rests)} rest photos measured against each other, never "
                   "below what phantom photos at rest read")


def analyze_photos(paths: Sequence[str | Path], mirrored: bool = False,
                   rest: Sequence[str | Path] = (),
                   progress: Callable[[int, int | None], None] | None = None,
                   model_path: str | Path | None = None) -> Diary:
    """Measure a series of photos of one face: the photo diary.

    Parameters
    ----------
    paths : sequence of str or Path
        Photos, or folders of photos (read in name order; every file in them must be a
        photo).
    mirrored : bool
        The photos are mirror images (a selfie camera that saves what its preview shows):
        sides are corrected so that left is the patient's left.
    rest : sequence of str or Path
        Photos to take as the face at rest whatever their expression scores say (matched by
        path or file name).
    progress : callable, optional
        ``progress(photos_done, photos_total)``.
    model_path : str or Path, optional
        Another copy of the verified landmark model.

    Raises
    ------
    SourceError
        No photos, a file that is not a readable photo, a ``rest`` photo not in the series.
    FaceError
        A photo without a measurable face.
    """
    from .landmarks import FaceTracker

    files = list_photos(paths)
    names = {str(p) for p in files} | {p.name for p in files}
    unknown = [str(r) for r in rest if str(r) not in names and Path(r).name not in names]
    if unknown:
        raise SourceError(f"rest photo {unknown[0]} is not one of the photos given")
    rest_names = {Path(r).name for r in rest}
    dates = [photo_date(p) for p in files]
    faces: dict[int, _Face] = {}
    photos: list[DiaryPhoto] = []
    with FaceTracker(model_path) as tracker:
        for order, (path, date) in enumerate(zip(files, dates, strict=True)):
            face = _read_face(path, tracker, mirrored)
            faces[order] = face
            if path.name in rest_names:
                expression, basis = REST, "named as the rest photo"
            else:
                expression, shown = _absolute_expression(face.scores)
                basis = ("expression scores: " + ", ".join(shown).replace("_", " ")
                         if shown else "expression scores: none shown")
            photo = DiaryPhoto(path, order, date, expression, basis,
                               positions=static_positions(face))
            if face.n_faces > 1:
                photo.notes.append(f"{face.n_faces} faces in view; the largest, most central "
                                   "one was measured")
            photos.append(photo)
            if progress is not None:
                progress(order + 1, len(files) + 1)
    if all(p.date.taken is not None for p in photos):
        photos.sort(key=lambda p: (p.date.taken, p.order))
    rests = [p for p in photos if p.expression == REST]
    noise, noise_basis = _series_noise(faces, rests)
    notes = []
    if not rests:
        notes.append("no rest photo in the series: movement cannot be measured without the "
                     "face at rest to compare with, so each photo's per-side positions and "
                     "their left-right differences are given instead (add a photo of the face "
                     "at rest, or name one with --rest)")
    if not all(p.date.taken for p in photos):
        notes.append("not every photo has a date (EXIF or file name): the series is in the "
                     "order given")
    for photo in photos:
        if photo.expression == REST:
            continue
        if rests:
            _measure_against_rest(photo, faces, _nearest_rest(photo, rests), noise)
        elif photo.expression in MOVEMENTS:
            photo.notes.append("no rest photo: positions only, no movement measured")
    if progress is not None:
        progress(len(files) + 1, len(files) + 1)
    return Diary(photos, noise, noise_basis, _trends(photos), notes, {
        "facescore_version": __version__, "model_sha256": model.MODEL_SHA256,
        "mirrored": mirrored, "rest_named": sorted(rest_names),
        "relative_error": PHOTO_RELATIVE_ERROR, "stand_out_sd": STAND_OUT_SD,
        "deadband": ("a side is called weaker only when the symmetry's 95 % interval lies "
                     f"wholly below {uncertainty.NORMAL_SYMMETRY_PCT:g} %, the sides differ by "
                     f"at least {uncertainty.NORMAL_DIFFERENCE_MM:g} mm and that difference's "
                     "interval excludes zero"),
        "measure": ("each side's travel from the rest photo nearest in time: landmark-seeded "
                    "patches found again by optical flow, head motion removed on the nasal "
                    "ridge, mm from the rest photo's iris (11.7 mm)"),
    })


def _measure_against_rest(photo: DiaryPhoto, faces: dict[int, _Face], reference: DiaryPhoto,
                          noise: dict[str, dict[str, float]]) -> None:
    """Name ``photo``'s movement from what it measurably did against ``reference``, and
    score it (in place)."""
    rest_face, face = faces[reference.order], faces[photo.order]
    moved, turned = excursions_against(rest_face, face)
    photo.reference = reference.path
    photo.all_excursions = moved
    if turned > POSE_NOTE_DEG:
        photo.notes.append(f"head turned {turned:.0f}° from the rest photo: the measure is less "
                           "reliable")
    measured = _standing_out(moved, noise)
    if measured is None:
        if photo.expression in MOVEMENTS:
            photo.notes.append(f"the expression scores read {photo.expression.replace('_', ' ')}"
                               " but no movement stands out from the rest photo: it may be the "
                               "face at rest")
            measured = photo.expression
        else:
            photo.expression, photo.expression_basis = REST, (
                "no movement stands out from the rest photo")
            return
    else:
        rises = (recognition.class_scores(face.scores).iloc[0]
                 - recognition.class_scores(rest_face.scores).iloc[0]).to_dict()
        named = recognition.recognise(measured, rises)
        if named is None:  # an eye closure the expression scores did not see
            photo.notes.append("the lids moved but the expression scores did not see the eyes "
                               "close")
            named = measured
        if named != measured:
            photo.expression, photo.expression_basis = named, (
                f"expression scores: {named.replace('_', ' ')} dominates (not measured)")
            return
        photo.expression_basis = ("measured against the rest photo: "
                                  f"{measured.replace('_', ' ')} moved farthest")
        photo.expression = measured
    sides = {side: moved[measured][side] for side in SIDES}
    photo.excursion = {side: uncertainty.excursion_interval(value, noise[measured][side],
                                                            PHOTO_RELATIVE_ERROR)
                       if np.isfinite(value) else None for side, value in sides.items()}
    left, right = photo.excursion["left"], photo.excursion["right"]
    if left is None or right is None:
        lost = [s for s in SIDES if photo.excursion[s] is None]
        photo.notes.append(f"{' and '.join(lost)} side not measured (its patches were lost or "
                           "the region did not fit)")
        return
    if max(left.value, right.value) < MIN_COMPARABLE_MM:
        photo.notes.append("too small to compare")
        return
    photo.symmetry = uncertainty.symmetry_interval(left, right)
    if photo.symmetry is None and symmetry_pct(left.value, right.value) is not None:
        photo.symmetry = uncertainty.Interval(symmetry_pct(left.value, right.value),
                                              float("nan"), float("nan"))
    photo.weaker_side = (uncertainty.weaker_side(left, right) if turned <= 2 * POSE_NOTE_DEG
                         else None)


def _trends(photos: list[DiaryPhoto]) -> dict[str, dict[str, SideTrend]]:
    """Per measured movement photographed at least three times, each side's Theil-Sen slope."""
    from scipy.stats import theilslopes

    dated = all(p.date.taken is not None for p in photos)
    out: dict[str, dict[str, SideTrend]] = {}
    for movement in MOVEMENTS:
        series = [p for p in photos if p.expression == movement]
        out[movement] = {}
        for side in SIDES:
            points = [(p, p.excursion[side].value) for p in series
                      if p.excursion.get(side) is not None]
            if len(points) < 3:
                continue
            if dated:
                start = min(p.date.taken for p, _ in points)
                x = np.array([(p.date.taken - start).total_seconds() / 86400 for p, _ in points])
            else:
                x = np.array([p.order for p, _ in points], dtype=float)
            if np.ptp(x) == 0:
                continue
            y = np.array([v for _, v in points])
            slope, _, low, high = theilslopes(y, x, 0.95)
            out[movement][side] = SideTrend(float(slope), float(low), float(high),
                                            "day" if dated else "photo", len(points),
                                            float(np.ptp(x)))
        if not out[movement]:
            del out[movement]
    return out


__all__ = ["Diary", "DiaryPhoto", "PhotoDate", "SideTrend", "TABLE_COLUMNS", "analyze_photos",
           "date_from_exif", "date_from_name", "excursions_against", "list_photos", "photo_date",
           "static_positions"]
