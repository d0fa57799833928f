"""The exercise page's server side: a guided session fed by the browser's camera.

The page (``/patients/{id}/exercise``) shows the camera mirrored and opens a WebSocket on
this app (loopback). Messages:

- page → server, binary: one camera frame, an 8-byte little-endian float64 (the frame's time
  on the page's clock, ms) followed by the frame as JPEG (at most :data:`MAX_SIDE` px);
- page → server, text: ``{"type": "pause" | "skip" | "stop"}`` (stop = end now and keep the
  completed movements; closing the socket abandons the session and records nothing);
- server → page, text (JSON): ``ready`` once the landmark model is loaded, then one
  ``state`` per measured frame (prompt, each side's travel and bar, the echoed frame time),
  then ``result`` (each movement's excursion and symmetry as ``analyze`` scores them, the
  session's id in the history) or ``error`` (one line).

Each frame is measured by :class:`facescore.session.LiveSession` exactly as ``facescore
session`` measures its camera's frames. Frames that arrive while one is being measured are
not queued: only the newest waits, the others are dropped (counted in ``dropped``), so the
bars lag the camera by at most about two frames' measuring time however slow the machine.
Frames are never stored; the report keeps a few key frames, as ``facescore session`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..errors import FacescoreError
from ..protocol import MOVEMENTS, PROMPTS, SESSION_TIMING, Timing, display_name

#: Frame header: the frame's time on the page's clock, ms.
HEADER = struct.Struct("<d")
#: Largest side of a frame the page sends, px (the landmark model sees a 384 px crop of the
#: face; more only costs encoding, sending and decoding).
MAX_SIDE = 640
#: Largest frame accepted, bytes (a 640 px JPEG is ~30-80 KB).
MAX_FRAME_BYTES = 4 << 20
#: The rate the page sends at, frames per second.
SEND_FPS = 15
#: How the session is labelled in the history and its report.
SOURCE_LABEL = "browser camera"

#: One live session at a time on a server: each takes most of a core.
_RUNNING = threading.Lock()


def page_config(ws_path: str, order=MOVEMENTS, timing: Timing = SESSION_TIMING) -> dict:
    """What the page's script needs, read from the protocol (the script holds no copy)."""
    return {
        "ws": ws_path, "max_side": MAX_SIDE, "fps": SEND_FPS,
        "duration_s": timing.script_s(len(order)),
        "movements": [{"name": m, "label": display_name(m), "prompt": PROMPTS[m]}
                      for m in order],
        "timing": {"settle_s": timing.lead_in_s, "ramp_s": timing.ramp_s,
                   "hold_s": timing.hold_s, "rest_s": timing.rest_s},
    }


@dataclass(frozen=True)
class Incoming:
    """One frame as the page sent it."""

    t_ms: float  # the page's clock, ms
    jpeg: bytes


def parse_frame(message: bytes) -> Incoming:
    """A binary message → its time and JPEG bytes.

    Raises
    ------
    ValueError
        When the message is not a time followed by a JPEG of acceptable size.
    """
    if len(message) <= HEADER.size or len(message) > MAX_FRAME_BYTES + HEADER.size:
        raise ValueError("a camera frame of impossible size")
    (t_ms,) = HEADER.unpack_from(message)
    if not math.isfinite(t_ms):
        raise ValueError("a camera frame without a time")
    jpeg = message[HEADER.size:]
    if jpeg[:3] != b"\xff\xd8\xff":
        raise ValueError("a camera frame that is not a JPEG")
    return Incoming(t_ms, jpeg)


def decode_jpeg(data: bytes) -> np.ndarray:
    """(H, W, 3) uint8 RGB from JPEG bytes.

    Raises
    ------
    ValueError
        Undecodable, or larger than :data:`MAX_SIDE` px.
    """
    import cv2

    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("a camera frame that cannot be decoded")
    if max(bgr.shape[:2]) > MAX_SIDE:
        raise ValueError(f"a camera frame larger than {MAX_SIDE} px")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _finite(value):
    """JSON-safe numbers: NaN and infinities become null (JavaScript reads no NaN)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


class BrowserSession:
    """A :class:`~facescore.session.LiveSession` with its landmark model, fed JPEG frames.

    Not thread-safe: the driver calls it from one thread (the model is loaded there too).
    """

    def __init__(self, order=MOVEMENTS, timing: Timing = SESSION_TIMING) -> None:
        from ..landmarks import FaceTracker
        from ..session import LiveSession

        self.live = LiveSession(order, 1, timing)
        self.tracker = FaceTracker()
        self.dropped = 0
        self._t0_ms: float | None = None
        self._size: tuple[int, int] | None = None
        self._last_t_s = -math.inf

    def process(self, incoming: Incoming) -> dict:
        """Measure one frame; returns the ``state`` message.

        Raises
        ------
        ValueError
            A frame that cannot be decoded (see :func:`decode_jpeg`).
        """
        from ..sources import Frame

        rgb = decode_jpeg(incoming.jpeg)
        if self._t0_ms is None:
            self._t0_ms = incoming.t_ms
            self._size = (rgb.shape[1], rgb.shape[0])
        # Frame time from the page's clock; a frame out of order is given a hair later time
        # (the script and the measures need time to move forward).
        t_s = max((incoming.t_ms - self._t0_ms) / 1000.0, self._last_t_s + 1e-3)
        self._last_t_s = t_s
        frame = Frame.from_rgb(self.live.n_frames, t_s, rgb)
        state = self.live.add(frame, self.tracker.track(frame))
        return _finite({
            "type": "state", "t": incoming.t_ms, "script_t": round(state.script_t, 3),
            "duration_s": self.live.duration_s, "phase": state.phase,
            "movement": state.movement, "title": state.title, "detail": state.detail,
            "travel_mm": state.travel_mm, "bars": state.bars, "warning": state.warning,
            "held": state.held, "done": state.done, "dropped": self.dropped,
            "measured": self.live.n_frames})

    def command(self, name: str) -> None:
        if name == "pause":
            self.live.toggle_pause()
        elif name == "skip":
            self.live.skip()
        elif name == "stop":
            self.live.stop()

    def finish(self, profile: str, db: Path) -> dict:
        """Score the session, write its report beside the history and record it; returns the
        ``result`` message.

        Raises
        ------
        FacescoreError
            When no movement was completed, or nothing could be measured.
        """
        from ..outputs import check_output_folder
        from ..session import save_session, session_folder
        from ..sources import SourceInfo

        if self._size is None:
            raise FacescoreError("no camera frame arrived")
        duration = max(self._last_t_s, 1e-3)
        info = SourceInfo(SOURCE_LABEL, "camera", self._size[0], self._size[1],
                          self.live.n_frames / duration, self.live.n_frames, duration, 0, False)
        analysis = self.live.analyse(info, self.tracker.n_faces_seen)
        out_dir = session_folder(profile, db)
        check_output_folder(out_dir, "report folder")
        session_id = save_session(analysis, SOURCE_LABEL, out_dir, profile, db,
                                  self.live.frame_lookup())
        per_movement = analysis.summary.get("per_movement", {})
        movements = []
        for name in MOVEMENTS:
            m = per_movement.get(name)
            if m is None:
                continue
            movements.append({"movement": name, "label": display_name(name),
                              "left_mm": m.get("left"), "right_mm": m.get("right"),
                              "symmetry_pct": m.get("symmetry_pct"),
                              "weaker_side": m.get("weaker_side")})
        return _finite({"type": "result", "session_id": session_id,
                        "report_url": f"/sessions/{session_id}/report.html",
                        "movements": movements, "ended_early": self.live.ended_early,
                        "note": analysis.summary.get("note"), "dropped": self.dropped,
                        "measured": self.live.n_frames})

    def close(self) -> None:
        self.tracker.close()


async def drive(websocket: WebSocket, profile: str, db: Path, order=MOVEMENTS,
                timing: Timing = SESSION_TIMING) -> None:
    """Run one exercise session over an accepted WebSocket (see the module's description).

    The newest frame waits while one is measured; older ones are dropped. A closed socket
    abandons the session (nothing is recorded).
    """
    if not _RUNNING.acquire(blocking=False):
        await refuse(websocket, "another exercise session is running on this computer; "
                               "finish it first")
        return
    loop = asyncio.get_running_loop()
    # One thread for the whole session: the model is created, used and closed there.
    executor = ThreadPoolExecutor(1, thread_name_prefix="facescore-exercise")
    session: BrowserSession | None = None
    receiver = None
    try:
        try:
            session = await loop.run_in_executor(executor, BrowserSession, order, timing)
        except FacescoreError as exc:  # the landmark model missing or damaged
            await refuse(websocket, str(exc))
            return
        await websocket.send_text(json.dumps({"type": "ready"}))
        latest: list[Incoming] = []  # at most one: the newest frame not yet measured
        commands: list[str] = []
        arrived = asyncio.Event()
        closed = asyncio.Event()
        refused: list[str] = []

        async def receive() -> None:
            try:
                while True:
                    message = await websocket.receive()
                    if message["type"] == "websocket.disconnect":
                        break
                    if message.get("bytes") is not None:
                        try:
                            incoming = parse_frame(message["bytes"])
                        except ValueError as exc:
                            refused.append(str(exc))
                            break
                        if latest:
                            session.dropped += 1
                        latest[:] = [incoming]
                    elif message.get("text"):
                        with contextlib.suppress(ValueError, AttributeError):
                            commands.append(str(json.loads(message["text"]).get("type")))
                    arrived.set()
            except WebSocketDisconnect:
                pass
            finally:
                closed.set()
                arrived.set()

        receiver = asyncio.create_task(receive())
        while not session.live.done:
            await arrived.wait()
            arrived.clear()
            if refused:
                await refuse(websocket, f"refused: {refused[0]}")
                return
            if closed.is_set():
                return  # the page went away: nothing is recorded
            for name in commands:
                session.command(name)
            commands.clear()
            if latest:
                incoming = latest.pop()
                try:
                    state = await loop.run_in_executor(executor, session.process, incoming)
                except ValueError as exc:
                    await refuse(websocket, f"refused: {exc}")
                    return
                await websocket.send_text(json.dumps(state))
                if latest:
                    arrived.set()  # one more arrived meanwhile
        try:
            result = await loop.run_in_executor(executor, session.finish, profile, db)
        except FacescoreError as exc:
            await refuse(websocket, str(exc))
            return
        await websocket.send_text(json.dumps(result))
        await websocket.close()
    except WebSocketDisconnect:
        pass
    finally:
        if receiver is not None:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiver
        if session is not None:
            await loop.run_in_executor(executor, session.close)
        executor.shutdown(wait=False)
        _RUNNING.release()


async def refuse(websocket: WebSocket, message: str) -> None:
    """Tell the page why, in one line, and close."""
    with contextlib.suppress(Exception):
        await websocket.send_text(json.dumps({"type": "error", "message": message}))
        await websocket.close(code=1000)
