"""Latency from a camera frame to its bar on the exercise page, at the camera's pace.

Starts ``facescore serve`` (a child process, its own data folder), adds a patient, and plays
a phantom paced to the session (made once, cached in benchmarks/.cache/; looped, as Chromium's
fake camera loops it) as the page's camera would: one frame every 1/15 s, each encoded to JPEG
when it is due and sent over the exercise WebSocket with its due time, at most two unanswered
(as the page's script sends). The latency of a frame is the time from when it was due to when
its ``state`` message (the bars) came back. Prints median, 95th percentile and maximum, how
many frames were measured, skipped by the client and dropped by the server (stale ones, when
it fell behind), and the session's result against the phantom's truth.

    python benchmarks/live_latency.py [--size 640x480] [--fps 15]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

CACHE = Path(__file__).resolve().parent / ".cache"


def session_phantom(width: int, height: int, fps: float, right_gain: float = 0.5):
    """The session's script performed with a weak right side, cached; returns (video, truth)."""
    from facescore.phantom import generate, right_weak
    from facescore.protocol import SESSION_TIMING

    video = CACHE / f"session_{width}x{height}_{fps:g}fps_r{right_gain:g}.mp4"
    truth = video.with_name(video.name + ".truth.json")
    if not (video.exists() and truth.exists()):
        CACHE.mkdir(exist_ok=True)
        generate(video, right_weak(right_gain, timing=SESSION_TIMING, size=(width, height),
                                   fps=fps))
    return video, json.loads(truth.read_text())


def jpeg_frames(video: Path) -> list[np.ndarray]:
    """The video's frames as BGR arrays (encoded to JPEG only when sent, as a page does)."""
    import av

    with av.open(str(video)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


class Server:
    """``facescore serve --no-browser`` on a free port, in a child process."""

    def __init__(self, data: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "facescore", "serve", "--no-browser", "--data", str(data),
             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        for line in self.process.stdout:
            match = re.search(r"(http://\S+)", line)
            if match:
                self.url = match.group(1).rstrip("/")
                break
        else:
            raise RuntimeError("facescore serve printed no address")

    def add_patient(self, identifier: str) -> tuple[int, str]:
        import httpx

        with httpx.Client(base_url=self.url, timeout=30) as client:
            for _ in range(100):
                try:
                    page = client.get("/")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
            reply = client.post("/patients", data={"csrf": csrf, "identifier": identifier},
                                headers={"Origin": self.url})
            return int(reply.headers["location"].rsplit("/", 1)[1]), csrf

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def run(video: Path, fps: float, quality: int = 85) -> dict:
    import cv2
    from websockets.sync.client import connect

    frames = jpeg_frames(video)
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "data")
        try:
            patient, csrf = server.add_patient("benchmark")
            address = (server.url.replace("http://", "ws://")
                       + f"/patients/{patient}/exercise/ws?csrf={csrf}")
            latencies: list[float] = []
            answered = [0, 0]  # states received, frames the server dropped
            result: dict = {}
            done = threading.Event()
            with connect(address, origin=server.url, max_size=None) as socket:
                ready_wait = time.perf_counter()
                assert json.loads(socket.recv())["type"] == "ready"
                ready_s = time.perf_counter() - ready_wait

                def receive() -> None:
                    for message in socket:
                        reply = json.loads(message)
                        if reply["type"] == "state":
                            latencies.append(time.perf_counter() * 1000 - reply["t"])
                            answered[0] += 1
                            answered[1] = reply["dropped"]
                        elif reply["type"] in ("result", "error"):
                            result.update(reply)
                            break
                    done.set()

                receiver = threading.Thread(target=receive, daemon=True)
                receiver.start()
                start = time.perf_counter()
                sent = skipped = 0
                # The video loops, as Chromium's fake camera does, until the script ends.
                for i in range(len(frames) + int(10 * fps)):
                    frame = frames[i % len(frames)]
                    due = start + i / fps
                    pause = due - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
                    if done.is_set():
                        break
                    if sent - answered[0] - answered[1] >= 2:  # as the page: two in flight
                        skipped += 1
                        continue
                    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
                    socket.send(struct.pack("<d", due * 1000) + jpeg.tobytes())
                    sent += 1
                done.wait(120)
        finally:
            server.stop()
    values = np.asarray(latencies)
    return {"ready_s": ready_s, "frames": len(frames), "sent": sent, "skipped": skipped,
            "measured": int(answered[0]), "dropped": int(answered[1]),
            "median_ms": float(np.median(values)), "p95_ms": float(np.percentile(values, 95)),
            "max_ms": float(values.max()), "first_ms": float(values[0]),
            "after_first_s_max_ms": float(values[int(fps):].max()), "result": result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="640x480",
                        help="frame size the page sends, WxH px (a webcam's 640x480)")
    parser.add_argument("--fps", type=float, default=15.0, help="camera rate, frames/s")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    video, truth = session_phantom(width, height, args.fps)
    figures = run(video, args.fps)
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    print(f"machine: {cpu}, {os.cpu_count()} cores; frames {width}x{height} at {args.fps:g} fps")
    print(f"model loaded in {figures['ready_s']:.1f} s (before the camera starts)")
    print(f"latency camera frame -> bar: median {figures['median_ms']:.0f} ms, "
          f"95th percentile {figures['p95_ms']:.0f} ms, max {figures['max_ms']:.0f} ms "
          f"(first frame {figures['first_ms']:.0f} ms; max after the first second "
          f"{figures['after_first_s_max_ms']:.0f} ms)")
    print(f"frames: {figures['frames']} in the video, {figures['sent']} sent, "
          f"{figures['measured']} measured, {figures['skipped']} skipped by the client and "
          f"{figures['dropped']} dropped by the server (two in flight at most)")
    result = figures["result"]
    if result.get("type") != "result":
        print(f"session: {result.get('message', 'no result')}")
        return
    true = {p["movement"]: p for p in truth["performances"]}
    for m in result["movements"]:
        t = true.get(m["movement"], {})
        print(f"  {m['label']:<12} left {m['left_mm']:.1f} mm right {m['right_mm']:.1f} mm "
              f"symmetry {m['symmetry_pct']:.0f} % (truth {t.get('symmetry_pct', float('nan')):.0f}"
              f" %), weaker {m['weaker_side']}")


if __name__ == "__main__":
    main()
