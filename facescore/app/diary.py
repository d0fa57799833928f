"""The photo diary in the clinic app: a patient's photos, several at a time, become a series.

A series is a folder ``DATA/diary/<patient id>/<series>/`` holding the photos as uploaded
(``photos/``, their names kept, made safe, since a name may carry the date), the diary's outputs
(``out/``: :func:`facescore.report.diary.write_diary`) and ``series.json`` (when and what).
Nothing is added to the store's database: a series is its folder, and it goes with its patient
(:func:`install` removes it when the patient is deleted).

:func:`add_series` is the entry point for any page that gathers photos (the clinic's upload, or
photos taken on an exercise page): it measures them and keeps the series, or raises
:class:`facescore.errors.FacescoreError` and keeps nothing.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from ..errors import FacescoreError, SourceError
from ..sources import IMAGE_SUFFIXES

#: At most this many photos in one upload, and this many bytes in all.
MAX_PHOTOS = 60
MAX_UPLOAD_BYTES = 1 << 30
_SERIES = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
_MOVEMENT = re.compile(r"^[a-z_]{3,30}$")


def diary_root(data_dir: Path, patient_id: int) -> Path:
    """Where a patient's series are kept."""
    return Path(data_dir) / "diary" / str(int(patient_id))


def safe_name(name: str, index: int) -> str:
    """A stored file name: the uploaded one's letters, digits, ``-``, ``_`` and ``.`` only
    (its date stays readable), numbered so that two uploads of one name do not collide."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).stem).strip("._")[:80] or "photo"
    suffix = Path(name).suffix.lower()
    return f"{index:02d}-{stem}{suffix if suffix in IMAGE_SUFFIXES else '.jpg'}"


def add_series(data_dir: Path, patient_id: int, photos: Sequence[tuple[str, bytes]],
               mirrored: bool = False, rest: Sequence[str] = ()) -> str:
    """Measure uploaded photos as one diary series of a patient and keep it.

    Parameters
    ----------
    data_dir : Path
        The app's data folder.
    photos : sequence of (name, bytes)
        Each photo's original file name and content.
    mirrored : bool
        Mirror-image photos (a selfie camera saving its preview).
    rest : sequence of str
        Original names of photos to take as the face at rest.

    Returns
    -------
    str
        The series' name (its folder).

    Raises
    ------
    FacescoreError
        No photos, too many, a file that is not a photo, a photo without a face: nothing is
        kept.
    """
    from ..diary import analyze_photos
    from ..report.diary import write_diary

    if not photos:
        raise SourceError("no photos were sent")
    if len(photos) > MAX_PHOTOS:
        raise SourceError(f"{len(photos)} photos: at most {MAX_PHOTOS} in one series")
    name = f"{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    folder = diary_root(data_dir, patient_id) / name
    stored: dict[str, str] = {}
    try:
        (folder / "photos").mkdir(parents=True)
        for index, (original, content) in enumerate(photos, start=1):
            target = folder / "photos" / safe_name(original, index)
            target.write_bytes(content)
            stored[target.name] = original
        rest_stored = [s for s, o in stored.items() if o in set(rest)]
        missing = set(rest) - set(stored.values())
        if missing:
            raise SourceError(f"rest photo {sorted(missing)[0]} is not among the photos sent")
        diary = analyze_photos([folder / "photos"], mirrored=mirrored, rest=rest_stored)
        write_diary(diary, folder / "out", narrow=True)
        summary = {
            "created": datetime.now().isoformat(timespec="seconds"),
            "n_photos": len(diary.photos), "mirrored": mirrored,
            "original_names": stored, "notes": diary.notes,
            "expressions": diary.expressions(),
            "first": diary.photos[0].label, "last": diary.photos[-1].label,
            "trends": {m: {s: {"direction": t.direction, "slope_mm": t.slope_mm,
                               "low_mm": t.low_mm, "high_mm": t.high_mm, "per": t.per}
                           for s, t in sides.items()} for m, sides in diary.trends.items()},
            "noise_basis": diary.noise_basis,
        }
        (folder / "series.json").write_text(json.dumps(summary, indent=1))
    except BaseException as exc:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, FacescoreError):
            # The stored name means nothing to the person who sent the photo: say theirs.
            message = str(exc)
            for safe, original in stored.items():
                message = message.replace(str(folder / "photos" / safe), original)
            raise type(exc)(message) from None
        raise
    return name


def list_series(data_dir: Path, patient_id: int) -> list[dict]:
    """A patient's series, newest first: ``name``, ``url`` and its ``series.json``."""
    root = diary_root(data_dir, patient_id)
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(root.iterdir(), reverse=True):
        info = folder / "series.json"
        if _SERIES.match(folder.name) and info.is_file():
            out.append({"name": folder.name, "url": f"/patients/{patient_id}/diary/{folder.name}",
                        **json.loads(info.read_text())})
    return out


def _series_folder(data_dir: Path, patient_id: int, series: str) -> Path:
    folder = diary_root(data_dir, patient_id) / series
    if not _SERIES.match(series) or not (folder / "series.json").is_file():
        raise HTTPException(404, "No such photo series.")
    return folder


def install(app: FastAPI, data_dir: Path, render: Callable, csrf_ok: Callable[[Request, str],
                                                                              bool],
            patient_or_404: Callable[[int], dict], env) -> None:
    """Add the diary's routes to the app, its panel's data to the patient page's templates,
    and the removal of a deleted patient's series.

    Parameters
    ----------
    render : callable
        ``render(request, template, status=200, **context)`` → the app's page.
    csrf_ok : callable
        ``csrf_ok(request, sent_token)``: whether a form carries this run's token.
    patient_or_404 : callable
        The patient's record, or an HTTP 404.
    env : jinja2.Environment
        The app's templates: ``diary_series(patient_id)`` is made available to them.
    """
    env.globals["diary_series"] = lambda patient_id: list_series(data_dir, patient_id)

    @app.middleware("http")
    async def forget_deleted_patients(request: Request, call_next):
        response = await call_next(request)
        parts = request.url.path.strip("/").split("/")
        if (request.method == "POST" and len(parts) == 3 and parts[0] == "patients"
                and parts[2] == "delete" and parts[1].isdigit()
                and response.status_code == 303):
            shutil.rmtree(diary_root(data_dir, int(parts[1])), ignore_errors=True)
        return response

    @app.post("/patients/{patient_id}/photos")
    async def upload_photos(request: Request, patient_id: int):
        """Photos sent as a multipart form (``photos``: the files; ``mirrored``; ``rest``:
        the name of a photo of the face at rest; ``csrf``)."""
        patient_or_404(patient_id)

        def refuse(message: str, status: int = 400):
            # A page, not the JSON a script's upload gets: this is a plain form.
            return render(request, "error.html.j2", status=status, message=message)

        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_UPLOAD_BYTES:
            return refuse(f"The photos are larger than a series takes "
                          f"({MAX_UPLOAD_BYTES >> 20} MB in all).", 413)
        try:
            form = await request.form(max_files=MAX_PHOTOS, max_fields=10)
        except Exception:  # malformed body, too many files
            return refuse(f"The photos could not be read (at most {MAX_PHOTOS} at a time).")
        if not csrf_ok(request, str(form.get("csrf", ""))):
            return refuse("The form is out of date or did not come from this app; reload the "
                          "page and try again.", 403)
        photos = []
        for item in form.getlist("photos"):
            if isinstance(item, str):
                continue
            content = await item.read()
            if content:
                photos.append((item.filename or "photo.jpg", content))
        rest = [r.strip() for r in str(form.get("rest", "")).split(",") if r.strip()]
        try:
            name = await run_in_threadpool(add_series, data_dir, patient_id, photos,
                                           form.get("mirrored") == "on", rest)
        except FacescoreError as exc:
            return refuse(f"The photos were not kept: {exc}.")
        return RedirectResponse(f"/patients/{patient_id}/diary/{name}", status_code=303)

    @app.get("/patients/{patient_id}/diary/{series}")
    async def series_page(request: Request, patient_id: int, series: str):
        patient = patient_or_404(patient_id)
        folder = _series_folder(data_dir, patient_id, series)
        info = json.loads((folder / "series.json").read_text())
        with open(folder / "out" / "diary.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        photos = []
        for left, right in zip(rows[::2], rows[1::2], strict=True):
            photos.append({**left, "left": left, "right": right,
                           "original": info["original_names"].get(left["photo"],
                                                                  left["photo"])})
        trends = [m for m in info["expressions"]
                  if (folder / "out" / f"trend_{m}.png").is_file()]
        return render(request, "diary.html.j2", patient=patient, series=series, info=info,
                      photos=photos, trends=trends,
                      title=f"{patient['identifier']} · photo diary")

    @app.get("/patients/{patient_id}/diary/{series}/trend_{movement}.png")
    async def trend_image(patient_id: int, series: str, movement: str):
        """A trend plot; ``trend_<movement>_narrow.png`` its phone layout."""
        patient_or_404(patient_id)
        folder = _series_folder(data_dir, patient_id, series)
        path = folder / "out" / f"trend_{movement}.png"
        if not _MOVEMENT.match(movement) or not path.is_file():
            raise HTTPException(404, "No such plot.")
        return FileResponse(path, media_type="image/png")

    @app.get("/patients/{patient_id}/diary/{series}/diary.csv")
    async def series_table(patient_id: int, series: str):
        patient_or_404(patient_id)
        folder = _series_folder(data_dir, patient_id, series)
        return FileResponse(folder / "out" / "diary.csv", media_type="text/csv",
                            filename=f"facescore-diary-{patient_id}-{series}.csv")
