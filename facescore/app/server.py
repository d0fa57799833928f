"""The web app: pages, uploads and the analysis worker's lifetime.

:func:`create_app` builds the ASGI app for a :class:`Config`; :func:`serve` (behind
``facescore serve``) binds the address, starts it with uvicorn and stops it on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shlex
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from fastapi import FastAPI, HTTPException, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from jinja2 import Environment, PackageLoader
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from .. import __version__, transfer
from ..analysis import DISCLAIMER
from ..errors import FacescoreError, SourceError
from ..history import profile_folder
from ..uncertainty import NORMAL_SYMMETRY_PCT
from . import diary, exercise, media, reports, security, timeline
from .store import InputError, Store, clean_segments, now

DEFAULT_MAX_UPLOAD_MB = 2048
STATIC = Path(__file__).with_name("static")


@dataclass
class Config:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None  # required from every client when set
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB << 20
    start_worker: bool = True
    csrf_token: str = field(default_factory=security.new_token)


class _TooLargeError(Exception):
    pass


class Worker:
    """The analysis process: started with the app, restarted if it dies, stopped with it."""

    def __init__(self, store: Store):
        self.store = store
        self.process: subprocess.Popen | None = None
        self._stopping = False

    def start(self) -> None:
        log = open(self.store.root / "logs" / "worker.log", "ab")  # noqa: SIM115
        env = dict(os.environ)
        env.setdefault("GLOG_minloglevel", "2")  # noqa: SIM112 (glog spells it so)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "facescore.app.worker", str(self.store.root),
                 str(os.getpid())],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True)  # a terminal's Ctrl-C goes to the server only
        finally:
            log.close()

    async def supervise(self) -> None:
        while not self._stopping:
            await asyncio.sleep(1.0)
            if self._stopping or self.process is None:
                continue
            code = self.process.poll()
            if code is not None:
                await run_in_threadpool(
                    self.store.fail_running,
                    f"the analysis process stopped unexpectedly (exit status {code}); "
                    f"see {self.store.root / 'logs' / 'worker.log'}")
                await asyncio.sleep(1.0)
                if not self._stopping:
                    self.start()

    def stop(self) -> None:
        self._stopping = True
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def _signed(value: float | None, digits: int = 1) -> str:
    """A change with its sign (no "-0.0": what rounds to zero is ±0)."""
    if value is None:
        return "–"
    if round(value, digits) == 0:
        return f"±{0:.{digits}f}"
    return f"{value:+.{digits}f}".replace("-", "−")


def _templates() -> Environment:
    env = Environment(loader=PackageLoader("facescore.app", "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["label"] = reports.label
    env.filters["num"] = lambda v, d=1: "–" if v is None else f"{v:.{d}f}"
    env.filters["signed"] = _signed
    env.filters["day"] = lambda v: (v or "")[:10]
    env.filters["minute"] = lambda v: (v or "").replace("T", " ")[:16]
    env.globals["normal_symmetry_pct"] = NORMAL_SYMMETRY_PCT
    return env


def create_app(config: Config) -> FastAPI:
    store = Store(config.data_dir)
    store.init()
    env = _templates()
    worker = Worker(store)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        task = None
        if config.start_worker:
            store.requeue_running()
            worker.start()
            task = asyncio.create_task(worker.supervise())
        try:
            yield
        finally:
            if task is not None:
                worker._stopping = True
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                await run_in_threadpool(worker.stop)

    app = FastAPI(title="facescore", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.config, app.state.store, app.state.worker = config, store, worker
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def guard(request: Request, call_next):
        refusal = security.check(request, config.token)
        if refusal is None and request.method not in security.SAFE_METHODS \
                and not _is_upload(request):
            length = request.headers.get("content-length", "")
            if length.isdigit() and int(length) > security.MAX_FORM_BYTES:
                refusal = _page_error(request, "A form this large is refused.", 413)
        response = refusal or await call_next(request)
        security.secure_headers(response, request.url.path)
        return response

    def _is_upload(request: Request) -> bool:
        """A recording or an export sent as the request's body (not a form)."""
        parts = request.url.path.strip("/").split("/")
        return parts[0] == "patients" and (
            (len(parts) == 3 and parts[2] in ("visits", "photos"))
            or (len(parts) == 4 and parts[2:] == ["sessions", "import"]))

    def render(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        html = env.get_template(name).render(
            csrf=config.csrf_token, version=__version__, disclaimer=DISCLAIMER,
            path=request.url.path, **context)
        return HTMLResponse(html, status_code=status)

    def _page_error(request: Request, message: str, status: int) -> HTMLResponse:
        return render(request, "error.html.j2", status=status, message=message)

    async def form_of(request: Request) -> dict:
        """The posted form, refused unless it carries this run's form token."""
        try:
            form = await request.form(max_files=0, max_fields=40, max_part_size=64 << 10)
        except Exception as exc:  # malformed body
            raise HTTPException(400, "malformed form") from exc
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        if not security.csrf_ok(request, config.csrf_token, values.get("csrf")):
            raise HTTPException(403, "The form is out of date or did not come from this app; "
                                     "reload the page and try again.")
        return values

    def patient_or_404(patient_id: int) -> dict:
        patient = store.get_patient(patient_id)
        if patient is None:
            raise HTTPException(404, "No such patient.")
        return patient

    def visit_or_404(visit_id: int) -> dict:
        visit = store.get_visit(visit_id)
        if visit is None:
            raise HTTPException(404, "No such visit (it may have been deleted).")
        return visit

    diary.install(app, store.root, render, lambda r, sent: security.csrf_ok(
        r, config.csrf_token, sent), patient_or_404, env)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if request.url.path.endswith("/status") or _is_upload(request):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        return _page_error(request, str(exc.detail), exc.status_code)

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError):
        """A form or query value the store refused: its message, as a 400 page."""
        return await http_error(request, HTTPException(400, str(exc)))

    @app.exception_handler(RequestValidationError)
    async def bad_address(request: Request, exc: RequestValidationError):
        return await http_error(request, HTTPException(404, "No such page."))

    # ------------------------------------------------------------------ patients
    @app.get("/", response_class=HTMLResponse)
    async def index(request: Request, q: str = ""):
        patients = await run_in_threadpool(store.list_patients, q.strip() or None)
        orphans = await run_in_threadpool(store.home_profiles_without_patient)
        return render(request, "index.html.j2", patients=patients, q=q, orphans=orphans,
                      title="Patients")

    @app.post("/patients")
    async def create_patient(request: Request):
        form = await form_of(request)
        try:
            patient_id = await run_in_threadpool(
                store.create_patient, form.get("identifier", ""), form.get("affected_side"),
                form.get("diagnosis"), form.get("notes"))
        except InputError as exc:
            patients = await run_in_threadpool(store.list_patients, None)
            return render(request, "index.html.j2", status=400, patients=patients, q="",
                          orphans=store.home_profiles_without_patient(), error=str(exc),
                          form=form, title="Patients")
        then = "/exercise" if form.get("then") == "exercise" else ""
        return RedirectResponse(f"/patients/{patient_id}{then}", status_code=303)

    @app.get("/patients/{patient_id}", response_class=HTMLResponse)
    async def patient_page(request: Request, patient_id: int):
        patient = patient_or_404(patient_id)
        visits = await run_in_threadpool(store.visits, patient_id)
        treatments = store.treatments(patient_id)
        sessions = await run_in_threadpool(store.measured_sessions, patient["identifier"])
        panels = timeline.panels(sessions, treatments)
        by_session = {s["id"]: s for s in sessions}
        for v in visits:
            measured = by_session.get(v["session_id"]) if v["session_id"] else None
            v["measured"] = measured["movements"] if measured else {}
        home = [s for s in sessions if not s["visit_id"]]
        command = ("facescore session --profile " + shlex.quote(patient["identifier"])
                   + " --db " + shlex.quote(str(store.db_path)))
        done = [v for v in visits if v["status"] == "done"]
        return render(request, "patient.html.j2", patient=patient, visits=visits,
                      treatments=treatments, panels=panels, home=home, command=command,
                      done=done, title=patient["identifier"],
                      max_upload_mb=config.max_upload_bytes // (1 << 20))

    @app.post("/patients/{patient_id}/edit")
    async def edit_patient(request: Request, patient_id: int):
        form = await form_of(request)
        patient_or_404(patient_id)
        await run_in_threadpool(store.update_patient, patient_id,
                                form.get("identifier", ""), form.get("affected_side"),
                                form.get("diagnosis"), form.get("notes"))
        return RedirectResponse(f"/patients/{patient_id}", status_code=303)

    @app.post("/patients/{patient_id}/delete")
    async def delete_patient(request: Request, patient_id: int):
        form = await form_of(request)
        patient_or_404(patient_id)
        if form.get("confirm") != "yes":
            raise HTTPException(400, "Tick the box to confirm deleting the patient.")
        await run_in_threadpool(store.delete_patient, patient_id)
        return RedirectResponse("/", status_code=303)

    @app.post("/patients/{patient_id}/treatments")
    async def add_treatment(request: Request, patient_id: int):
        form = await form_of(request)
        patient_or_404(patient_id)
        store.add_treatment(patient_id, form.get("date", ""), form.get("label"))
        return RedirectResponse(f"/patients/{patient_id}#timeline", status_code=303)

    @app.post("/treatments/{treatment_id}/delete")
    async def delete_treatment(request: Request, treatment_id: int):
        await form_of(request)
        patient_id = store.delete_treatment(treatment_id)
        if patient_id is None:
            raise HTTPException(404, "No such treatment.")
        return RedirectResponse(f"/patients/{patient_id}#timeline", status_code=303)

    # ------------------------------------------------------------------ uploads
    @app.post("/patients/{patient_id}/visits")
    async def upload(request: Request, patient_id: int):
        """The recording is the request body (the page's script sends the file as it is);
        options in the query: ``mirrored=1``, ``segments=`` (CSV lines)."""
        if not security.csrf_ok(request, config.csrf_token,
                                request.headers.get("x-csrf-token")):
            raise HTTPException(403, "The page is out of date; reload it and try again.")
        patient_or_404(patient_id)
        limit = config.max_upload_bytes
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise HTTPException(413, f"The file is larger than this server accepts "
                                     f"({limit >> 20} MB; see 'facescore serve "
                                     f"--max-upload-mb').")
        mirrored = request.query_params.get("mirrored", "") in ("1", "true", "on")
        segments = clean_segments(request.query_params.get("segments"))
        name = unquote(request.headers.get("x-filename", ""))[:255] or "recording"
        part = store.uploads_dir / f"{uuid.uuid4().hex}.part"
        try:
            size = 0
            with open(part, "xb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise _TooLargeError
                    out.write(chunk)
            if size == 0:
                raise HTTPException(400, "The upload was empty.")
            try:
                probe = await run_in_threadpool(media.probe, part)
            except SourceError as exc:
                raise HTTPException(415, f"Refused: {exc}.") from None
            folder, path = store.new_visit_folder()
            recording = "recording" + probe.suffix
            part.replace(path / recording)
        except _TooLargeError:
            raise HTTPException(413, f"The file is larger than this server accepts "
                                     f"({limit >> 20} MB).") from None
        except ClientDisconnect:
            raise HTTPException(400, "The upload was cut off.") from None
        finally:
            part.unlink(missing_ok=True)
        date, source = (probe.recorded_at, "video metadata") if probe.recorded_at \
            else (now(), "upload time")
        visit_id = await run_in_threadpool(
            store.create_visit, patient_id, folder, recording, name, size, probe.kind,
            probe.n_frames, date, source, mirrored, segments)
        return JSONResponse({"visit": visit_id, "url": f"/visits/{visit_id}",
                             "date": date, "date_source": source}, status_code=201)

    # ------------------------------------------------------------------ visits
    @app.get("/visits/{visit_id}", response_class=HTMLResponse)
    async def visit_page(request: Request, visit_id: int):
        visit = visit_or_404(visit_id)
        patient = patient_or_404(visit["patient_id"])
        report_dir = store.report_dir(visit)
        report = reports.load(report_dir) if visit["status"] == "done" else None
        images = reports.embedded_images(report_dir) if report else {}
        position = store.queue_position(visit) if visit["status"] == "queued" else 0
        return render(request, "visit.html.j2", visit=visit, patient=patient, report=report,
                      summary=reports.per_movement(report) if report else {},
                      frames=reports.key_frames(report_dir) if report else {},
                      has_bars="figure|bars" in images, position=position,
                      title=f"{patient['identifier']} · visit {visit['visit_date'][:10]}")

    @app.get("/visits/{visit_id}/status")
    async def visit_status(visit_id: int):
        visit = visit_or_404(visit_id)
        position = store.queue_position(visit) if visit["status"] == "queued" else 0
        return {"status": visit["status"], "progress": visit["progress"],
                "phase": visit["phase"], "error": visit["error"], "queue_ahead": position}

    @app.post("/visits/{visit_id}/edit")
    async def edit_visit(request: Request, visit_id: int):
        form = await form_of(request)
        visit_or_404(visit_id)
        store.update_visit(visit_id, form.get("visit_date", ""), form.get("notes"))
        return RedirectResponse(f"/visits/{visit_id}", status_code=303)

    @app.post("/visits/{visit_id}/reanalyse")
    async def reanalyse(request: Request, visit_id: int):
        form = await form_of(request)
        visit = visit_or_404(visit_id)
        if visit["status"] == "running":
            raise HTTPException(409, "This visit is being analysed now.")
        segments = clean_segments(form.get("segments"))
        store.requeue(visit_id, form.get("mirrored") == "on", segments)
        return RedirectResponse(f"/visits/{visit_id}", status_code=303)

    @app.post("/visits/{visit_id}/delete")
    async def delete_visit(request: Request, visit_id: int):
        form = await form_of(request)
        visit_or_404(visit_id)
        if form.get("confirm") != "yes":
            raise HTTPException(400, "Tick the box to confirm deleting the visit.")
        patient_id = await run_in_threadpool(store.delete_visit, visit_id)
        return RedirectResponse(f"/patients/{patient_id}", status_code=303)

    def _report_file(visit_id: int, name: str) -> Path:
        visit = visit_or_404(visit_id)
        path = store.report_dir(visit) / name
        if visit["status"] != "done" or not path.is_file():
            raise HTTPException(404, "This visit has no report yet.")
        return path

    @app.get("/visits/{visit_id}/report.html")
    async def report_html(visit_id: int):
        return FileResponse(_report_file(visit_id, "report.html"), media_type="text/html")

    @app.get("/visits/{visit_id}/report.json")
    async def report_json(visit_id: int):
        return FileResponse(_report_file(visit_id, "report.json"),
                            media_type="application/json",
                            filename=f"facescore-visit-{visit_id}-report.json")

    @app.get("/visits/{visit_id}/recording")
    async def recording(visit_id: int):
        visit = visit_or_404(visit_id)
        path = store.recording_path(visit)
        if not path.is_file():
            raise HTTPException(404, "The recording is missing.")
        return FileResponse(path, media_type="application/octet-stream",
                            filename=f"facescore-visit-{visit_id}{path.suffix}")

    @app.get("/visits/{visit_id}/images/{group}/{name}")
    async def image(visit_id: int, group: str, name: str):
        """A key frame (``smile/peak``) or figure (``figure/bars``) the report embeds."""
        visit = visit_or_404(visit_id)
        found = reports.embedded_images(store.report_dir(visit)).get(f"{group}|{name}")
        if found is None:
            raise HTTPException(404, "No such image in this visit's report.")
        mime, data = found
        return Response(data, media_type=mime, headers={"Cache-Control": "private, max-age=60"})

    @app.get("/sessions/{session_id}/report.html")
    async def session_report(session_id: int):
        session = store.get_session(session_id)
        path = Path(session["report_path"]) if session and session["report_path"] else None
        # The path was written by facescore itself (a session or the worker), never a client.
        if path is None or path.name != "report.html" or not path.is_file():
            raise HTTPException(404, "This session's report is not on this machine.")
        return FileResponse(path, media_type="text/html")

    # ------------------------------------------------------------------ comparison
    @app.get("/patients/{patient_id}/compare", response_class=HTMLResponse)
    async def compare(request: Request, patient_id: int, a: int | None = None,
                      b: int | None = None):
        patient = patient_or_404(patient_id)
        done = [v for v in store.visits(patient_id) if v["status"] == "done"]
        if len(done) < 2:
            raise HTTPException(400, "Comparing needs two analysed visits.")
        ids = [v["id"] for v in done]
        a = a if a in ids else ids[-2]
        b = b if b in ids else ids[-1]
        visit_a, visit_b = (next(v for v in done if v["id"] == i) for i in (a, b))
        sides = []
        for visit in (visit_a, visit_b):
            report = reports.load(store.report_dir(visit)) or {}
            sides.append({"visit": visit, "report": report,
                          "summary": reports.per_movement(report),
                          "frames": reports.key_frames(store.report_dir(visit))})
        movements = [m for m in reports.MOVEMENT_ORDER
                     if m in sides[0]["summary"] or m in sides[1]["summary"]]
        rows = []
        for movement in movements:
            before, after = (s["summary"].get(movement) for s in sides)
            change = {}
            if before and after:
                for key in ("left", "right", "symmetry_pct"):
                    if before.get(key) is not None and after.get(key) is not None:
                        change[key] = after[key] - before[key]
            scale = max([v for s in (before, after) if s for v in (s.get("left"), s.get("right"))
                         if v is not None] + [1.0])
            rows.append({"movement": movement, "before": before, "after": after,
                         "change": change, "scale": scale})
        return render(request, "compare.html.j2", patient=patient, done=done, a=visit_a,
                      b=visit_b, sides=sides, rows=rows,
                      title=f"{patient['identifier']} · comparison")

    # ------------------------------------------------------------------ exercises
    def _warm_up() -> None:
        """Load the measuring code in the background while the page is read, so that the
        session starts without the first import's wait (several seconds on a busy
        machine)."""
        def load() -> None:
            from .. import landmarks, session  # noqa: F401

        threading.Thread(target=load, daemon=True, name="facescore-warm-up").start()

    @app.get("/exercise", response_class=HTMLResponse)
    async def exercise_index(request: Request):
        patients = await run_in_threadpool(store.list_patients, None)
        return render(request, "exercise_index.html.j2", patients=patients,
                      title="Exercises")

    @app.get("/patients/{patient_id}/exercise", response_class=HTMLResponse)
    async def exercise_page(request: Request, patient_id: int):
        patient = patient_or_404(patient_id)
        _warm_up()
        page = exercise.page_config(f"/patients/{patient_id}/exercise/ws")
        return render(request, "exercise.html.j2", patient=patient, page=page,
                      loopback=config.token is None,
                      title=f"{patient['identifier']} · exercises")

    @app.websocket("/patients/{patient_id}/exercise/ws")
    async def exercise_socket(websocket: WebSocket, patient_id: int):
        refusal = security.websocket_refusal(websocket, config.token, config.csrf_token)
        patient = None if refusal else await run_in_threadpool(store.get_patient, patient_id)
        await websocket.accept()
        if refusal or patient is None:
            await exercise.refuse(websocket, refusal or "no such patient")
            return
        await exercise.drive(websocket, patient["identifier"], store.db_path)

    # ------------------------------------------------------------------ export, import
    @app.get("/patients/{patient_id}/sessions/export")
    async def export_sessions(patient_id: int, session: int | None = None):
        """All the patient's home sessions (or one: ``?session=ID``) as one file."""
        patient = patient_or_404(patient_id)

        def export() -> bytes:
            with store.connect() as c:
                return transfer.export_sessions(c, patient["identifier"],
                                                None if session is None else [session])

        try:
            data = await run_in_threadpool(export)
        except FacescoreError:
            raise HTTPException(404, "No home session to export.") from None
        name = transfer.file_name(patient["identifier"], session)
        return Response(data, media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.post("/patients/{patient_id}/sessions/import")
    async def import_sessions(request: Request, patient_id: int):
        """An export file as the request's body, added to this patient's timeline."""
        if not security.csrf_ok(request, config.csrf_token,
                                request.headers.get("x-csrf-token")):
            raise HTTPException(403, "The page is out of date; reload it and try again.")
        patient = patient_or_404(patient_id)
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > transfer.MAX_BYTES:
                    raise HTTPException(413, "Refused: not a facescore export (too large).")
                chunks.append(chunk)
        except ClientDisconnect:
            raise HTTPException(400, "The upload was cut off.") from None

        def bring_in() -> transfer.ImportResult:
            content = transfer.read_export(b"".join(chunks))
            with store.connect() as c:
                return transfer.import_sessions(
                    c, content, patient["identifier"],
                    store.root / "sessions" / profile_folder(patient["identifier"]))

        try:
            result = await run_in_threadpool(bring_in)
        except FacescoreError as exc:
            raise HTTPException(400, f"Refused: {exc}.") from None
        return JSONResponse({"imported": len(result.imported), "already": result.already,
                             "from_profile": result.from_profile}, status_code=201)

    return app


# ---------------------------------------------------------------------- serving
@contextlib.contextmanager
def _data_lock(data_dir: Path):
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = open(data_dir / "serve.lock", "w")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise FacescoreError(f"another 'facescore serve' is using {data_dir}") from None
    try:
        yield
    finally:
        handle.close()


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        raise FacescoreError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def serve(data_dir: Path, host: str = "127.0.0.1", port: int = 8765,
          open_browser: bool = True, max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB,
          announce: Callable[[str], None] = print) -> None:
    """Run the app until Ctrl-C (or SIGTERM). ``announce`` receives the lines to show."""
    import uvicorn

    data_dir = Path(data_dir).expanduser().resolve()
    loopback = security.is_loopback(host)
    token = None if loopback else security.new_token()
    with _data_lock(data_dir):
        sock = _bind(host, port)
        port = sock.getsockname()[1]
        config = Config(data_dir=data_dir, host=host, port=port, token=token,
                        max_upload_bytes=max(1, max_upload_mb) << 20)
        app = create_app(config)
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                               lifespan="on", timeout_graceful_shutdown=5))
        announce(f"facescore app: {url}")
        announce(f"data: {data_dir} (patients, visits, reports and home sessions)")
        if token:
            if host in ("0.0.0.0", "::"):
                announce(f"from other machines: http://{socket.gethostname()}:{port}/"
                         f"?token={token}")
            announce(f"{host} is reachable from other machines, so every request needs the "
                     "token above (open that address once; the browser keeps it).")
        announce("a measurement aid, not a diagnostic device · Ctrl-C stops the server")
        if open_browser:
            import webbrowser

            threading.Timer(0.8, webbrowser.open, [url]).start()
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            pass
        finally:
            sock.close()
    announce("facescore app stopped")
