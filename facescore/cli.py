"""Command line: thin wrappers over the public API. The only module that prints or exits."""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .errors import FacescoreError, raise_interrupted

if TYPE_CHECKING:
    from .analysis import Analysis
    from .sources import SourceInfo

EXIT_INPUT = 2
EXIT_SOME_FAILED = 3  # batch: finished, but some videos could not be analysed
#: Exit status after a signal, as a shell reports it: 128 + the signal's number.
EXIT_SIGNAL_BASE = 128

DESCRIPTION = """\
facescore measures left-right facial asymmetry from video of the facial-nerve exam
(rest, brow raise, eye closure, smile, frown). Sides are always the patient's own
(anatomical) left and right. It is a measurement aid, not a diagnostic device: its scores
are not validated against clinical grading.

Typical use:
  facescore analyze consult.mp4 -o report/      # report.html + report.json + per-frame table
  facescore analyze photo.jpg -o rest/          # a photo: resting symmetry only
  facescore photos diary/ -o diary_report/      # dated photos: each side, trend per expression
  facescore analyze webcam.mp4 --mirrored       # a file saved as a mirror image (see --help)
  facescore phantom exam.mp4 --right-gain 0.5   # a test video with a known weak right side
  facescore check exam.mp4                       # compare a phantom's measurement with its truth
  facescore measure exam.mp4 -o out/            # only the per-frame table
  facescore batch videos/ manifest.csv -o study/ # many recordings, one tidy table
  facescore serve                                # the clinic web app in your browser

Ctrl-C stops any command within a second or two; nothing is left half-written.
"""

#: The session's script in words (facescore.session.SESSION_TIMING), for the help texts.
SESSION_SCRIPT = ("3 s to settle, then each movement (brow raise, eye closure, smile, frown): "
                  "0.5 s to reach it, 2 s hold, 0.5 s release, 2.5 s rest")


class _LinesFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs keep their line breaks and indented lines (examples, CSV
    samples), as RawDescriptionHelpFormatter does, but long lines are wrapped to the terminal
    as argparse wraps the help of options."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        lines = []
        for line in text.splitlines():
            if line.startswith(" ") or len(line) <= width:
                lines.append(indent + line)
            else:
                lines.extend(textwrap.wrap(line, width, initial_indent=indent,
                                           subsequent_indent=indent))
        return "\n".join(lines)


@contextmanager
def _progress(label: str, enabled: bool, unit: str = "frame"):
    """A tqdm bar on stderr (only on a terminal); yields a ``progress(done, total)`` callable."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(desc=label, unit=unit, file=sys.stderr, leave=False)

    def update(done: int, total: int | None) -> None:
        if total and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()


def _print_table(table) -> None:
    """A table of text (see ``facescore.display``) as aligned columns."""
    print(table.to_string(index=False))


def _parse_gains(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    from .protocol import BLINK, MOVEMENTS

    gains = {m: {"left": args.left_gain, "right": args.right_gain} for m in MOVEMENTS}
    for item in args.gain or []:
        try:
            movement, side, value = item.split(":")
            if movement not in (*MOVEMENTS, BLINK) or side not in ("left", "right"):
                raise ValueError(item)
            gains.setdefault(movement, {})[side] = float(value)
        except ValueError:
            raise FacescoreError(
                f"--gain {item!r}: expected MOVEMENT:SIDE:GAIN, e.g. smile:right:0.3 "
                f"(movements: {', '.join(MOVEMENTS)}, {BLINK}; sides: left, right)"
            ) from None
    return gains


#: Options of a photo phantom only, with their defaults: a base video keeps its own size, frame
#: rate, noise and framing.
PHOTO_ONLY = {"size": "480x480", "face_width": 0.45, "fps": 30.0, "noise": 2.0, "seed": 0}


def cmd_phantom(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .outputs import check_output_file
    from .phantom import PhantomSpec
    from .protocol import MOVEMENTS, schedule_timing

    check_output_file(args.output, "output video")
    if args.reps < 1:
        raise FacescoreError(f"--reps {args.reps}: must be 1 or more")
    timing = schedule_timing(args.schedule)
    if args.schedule == "session":
        if args.lead_in is not None:
            raise FacescoreError("--lead-in: the session's script sets its own timing "
                                 f"({SESSION_SCRIPT})")
        if tuple(args.order) != MOVEMENTS:
            raise FacescoreError("--order: a session prompts all four movements in its own "
                                 f"order ({', '.join(MOVEMENTS)})")
        if args.distractors:
            raise FacescoreError("--distractors: a session prompts its movements at fixed "
                                 f"times ({SESSION_SCRIPT}); distractors would move them")
    spec = PhantomSpec(gains=_parse_gains(args), order=tuple(args.order),
                       repetitions=args.reps, mirror=args.mirror, timing=timing,
                       distractors=tuple(args.distractors or ()))
    if args.lead_in is not None:
        if args.lead_in < 0:
            raise FacescoreError(f"--lead-in {args.lead_in}: must be 0 s or more")
        spec = replace(spec, timing=replace(timing, lead_in_s=args.lead_in))
    with _progress("phantom", not args.quiet) as progress:
        if args.base_video is not None:
            given = [f"--{name.replace('_', '-')}" for name in PHOTO_ONLY
                     if getattr(args, name) is not None]
            if given:
                raise FacescoreError(f"{', '.join(given)}: only for photo phantoms; a base "
                                     "video keeps its own size, frame rate and noise")
            from .phantom_video import generate_from_video

            phantom = generate_from_video(args.output, args.base_video, spec,
                                          progress=progress)
        else:
            phantom = _photo_phantom(args, spec, progress)
    truth = phantom.truth
    base = f", base video {truth['base_video']}" if "base_video" in truth else ""
    print(f"wrote {phantom.video} ({truth['duration_s']:.1f} s{base}) "
          f"and its truth {phantom.truth_path}")
    for p in truth["performances"]:
        left, right = p["left"]["excursion_mm"], p["right"]["excursion_mm"]
        print(f"  {p['movement']:<12} rep {p['rep']}  {p['start_s']:5.2f}-{p['end_s']:5.2f} s  "
              f"left {left:5.2f} mm  right {right:5.2f} mm  symmetry {p['symmetry_pct']:5.1f} %")
    for d in truth.get("distractors", []):
        print(f"  {d['name']:<12} (distractor, not an exam movement)  "
              f"{d['start_s']:5.2f}-{d['end_s']:5.2f} s")
    if spec.mirror:
        print(f"  (a mirror image: measure it with 'facescore check {phantom.video} --mirrored')")
    if args.schedule == "session":
        reps = f" --reps {args.reps}" if args.reps > 1 else ""
        print(f"  (paced to the session's script: play it with 'facescore session --camera "
              f"{phantom.video} --no-window{reps}')")
    return 0


def _photo_phantom(args: argparse.Namespace, spec, progress):
    from dataclasses import replace

    import numpy as np
    from PIL import Image

    from .phantom import generate

    options = {name: default if getattr(args, name) is None else getattr(args, name)
               for name, default in PHOTO_ONLY.items()}
    photo = name = None
    if args.photo:
        try:
            photo = np.asarray(Image.open(args.photo).convert("RGB"))
        except (OSError, Image.DecompressionBombError) as exc:
            raise FacescoreError(f"cannot read photo {args.photo}: {exc}") from exc
        name = str(args.photo)
    try:
        width, height = (int(v) for v in options["size"].lower().split("x"))
    except ValueError:
        raise FacescoreError(f"--size {options['size']!r}: expected WIDTHxHEIGHT, e.g. "
                             "480x480") from None
    if not (16 <= width <= 7680 and 16 <= height <= 7680):
        raise FacescoreError(f"--size {options['size']}: each side must be 16-7680 px")
    if not 0 < options["face_width"] <= 1:
        raise FacescoreError(f"--face-width {options['face_width']}: a share of the width, "
                             "above 0 and at most 1")
    if options["fps"] <= 0 or options["noise"] < 0:
        raise FacescoreError("--fps must be above 0 and --noise 0 or more")
    spec = replace(spec, size=(width, height), face_width_frac=options["face_width"],
                   fps=options["fps"], noise=options["noise"], seed=options["seed"])
    return generate(args.output, spec, photo=photo, photo_name=name, progress=progress)


def cmd_measure(args: argparse.Namespace) -> int:
    from .outputs import atomic_directory, check_output_folder
    from .pipeline import measure_video
    from .table import write_table

    check_output_folder(args.output)
    with _progress("measuring", not args.quiet) as progress:
        measurement = measure_video(args.video, mirrored=args.mirrored, progress=progress)
    with atomic_directory(args.output) as staging:
        paths = write_table(measurement.frames, staging)
        meta = {
            "facescore_version": __version__,
            "input": vars(measurement.info),
            "calibration": vars(measurement.calibration),
            "quality": measurement.quality,
        }
        (staging / "measurement.json").write_text(json.dumps(meta, indent=2))
    q = measurement.quality
    print(f"{len(measurement.frames)} frames, face in {100 * q['face_found_fraction']:.1f} %, "
          f"{measurement.calibration.mm_per_px:.3f} mm/px")
    damage = getattr(measurement.info, "damage", None)
    if damage:
        print(f"warning: {damage['description']}; only the readable part was measured")
    for path in paths + [Path("measurement.json")]:
        print(f"wrote {args.output / path.name}")
    return 0


def _percent(value: float, low: float | None, high: float | None) -> str:
    """A symmetry as printed: the percentage, and its 95 % interval when there is one."""
    from .display import number

    band = f" ({number(low, 0)}-{number(high, 0)})" if low is not None else ""
    return f"{number(value):>5} %{band}"


def _symmetry(performance) -> str:
    """A performance's symmetry as printed: a percentage, or why there is none."""
    from .scores import not_scored_text

    if performance.symmetry_pct is not None:
        return _percent(performance.symmetry_pct, performance.symmetry_low_pct,
                        performance.symmetry_high_pct)
    if not performance.scored:
        return not_scored_text(performance.flags, see="the notes")
    return "too small to compare"


def _blink_lines(blinks: dict) -> list[str]:
    """The blink summary as printed (:func:`facescore.segments.blink_summary`): the count and
    rate, each eye's median completeness with the per-blink difference (and its middle half
    from enough blinks), and which eye closes less; nothing without blinks."""
    from .display import signed
    from .segments import MIN_SPREAD_BLINKS

    if not blinks.get("count"):
        return []
    line = f"{blinks['count']}"
    if blinks.get("rate_per_min"):
        line += f" ({blinks['rate_per_min']:.0f}/min)"
    completeness = ", ".join(f"{side} {100 * blinks[f'completeness_{side}']:.0f} %"
                             for side in ("left", "right")
                             if blinks.get(f"completeness_{side}") is not None)
    if not completeness:
        return [line]
    spread = ""
    if blinks["completeness_blinks"] >= MIN_SPREAD_BLINKS:
        low, high = blinks["completeness_left_minus_right_iqr"]
        spread = f", middle half {signed(100 * low)} to {signed(100 * high)} %"
    line += (f"; median completeness {completeness} on the {blinks['completeness_blinks']} "
             f"seen by both eyes (left minus right per blink "
             f"{signed(100 * blinks['completeness_left_minus_right'])} %{spread})")
    return [line, blinks["less_complete_call"]]


def _check_analyze_inputs(args: argparse.Namespace) -> SourceInfo:
    """Everything ``analyze`` can know is wrong before it measures: the output folder, the
    video or photo (opened, not decoded), the segments file against the video's length.
    Returns what the input is."""
    from .outputs import check_not_another_report, check_output_folder
    from .sources import open_source

    check_output_folder(args.output)
    if not args.overwrite:
        check_not_another_report(args.output, args.video)
    with open_source(args.video) as source:
        info = source.info
    if args.segments is not None:
        # Imported here: it loads pandas (~0.35 s), which the common case (no segments file)
        # loads later, while the landmark worker started early loads its model.
        from .checks import check_segments_file

        if info.kind == "image":
            raise FacescoreError("--segments: a photo shows rest only; movement times are for "
                                 "videos")
        check_segments_file(args.segments, info.duration_s)
    return info


def _quietly(work) -> None:
    """``work()``, any exception dropped (for work done ahead of time that is done again)."""
    with contextlib.suppress(Exception):
        work()


def _analyze_and_write(args: argparse.Namespace) -> tuple[Analysis, list[Path]]:
    """``analyze`` measured and its report written: (analysis, output paths)."""
    import threading

    from .analysis import analyze
    from .report import keyframes, write_outputs
    from .report.writer import prepare

    # The report's libraries load while the landmark model starts (the measuring waits ~0.8 s
    # for its first frame on a 1080p clip), not after the measuring. A failure there is met
    # again, and reported, by write_outputs.
    threading.Thread(target=_quietly, args=(prepare,), name="facescore-prepare-report",
                     daemon=True).start()

    def start_key_frame_reader(measurement) -> None:
        # A large video's key frames are read in a child process: it starts (~0.15 s) while
        # the measurement is analysed, with one core idle, instead of after.
        info = measurement.info
        if info.kind == "video":
            keyframes.start_child(info.width, info.height)

    with _progress("analysing", not args.quiet) as progress:
        try:
            analysis = analyze(args.video, mirrored=args.mirrored, segments=args.segments,
                               progress=progress, key_frames=False if args.every_frame else None,
                               on_measured=start_key_frame_reader)
            return analysis, write_outputs(analysis, args.video, args.output)
        finally:
            keyframes.stop_child()  # one never asked (the analysis failed)


def cmd_analyze(args: argparse.Namespace) -> int:
    from .landmark_worker import start_early, stop_early, wants_landmark_process

    info = _check_analyze_inputs(args)
    try:
        if wants_landmark_process(info):
            # The landmark model loads in its process (~0.8 s) while this one loads the rest
            # of its work (~0.5 s); measure_video takes the worker over. Where it cannot be
            # started, measure_video tries again or measures in a thread.
            with contextlib.suppress(OSError):
                start_early((info.height, info.width))
        analysis, paths = _analyze_and_write(args)
    finally:
        stop_early()  # a worker nobody took (the measuring failed before it started)
    from .display import number

    for p in analysis.performances:
        weaker = p.side_call
        print(f"{p.movement:<12} rep {p.rep}  left {number(p.left.excursion_mm):>5} mm  "
              f"right {number(p.right.excursion_mm):>5} mm  symmetry {_symmetry(p)}  "
              f"weaker: {weaker}"
              + (f"  (found on the {p.sides} side's signal; both sides measured)"
                 if p.sides != "both" else ""))
        for flag in p.flags:
            print(f"    note: {flag}")
    for other in analysis.others:
        print(f"{other.label.replace('_', ' ')} at {other.onset:.1f}-{other.end:.1f} s"
              + (f" ({'; '.join(other.flags)})" if other.flags else "")
              + ": not an exam movement, not scored")
    summary = analysis.summary
    for name, m in summary.get("per_movement", {}).items():
        if m["repetitions"] > 1:  # what the summary below reads, once per repeated movement
            symmetry = ("symmetry " + _percent(m["symmetry_pct"], m["symmetry_low_pct"],
                                               m["symmetry_high_pct"]).lstrip()
                        if m["symmetry_pct"] is not None else "not compared")
            print(f"{name:<12} over {m['scored_repetitions']} of {m['repetitions']} "
                  f"repetitions: left {number(m['left'])} mm  right {number(m['right'])} mm  "
                  f"{symmetry}  weaker: {m['side_call']}")
    if analysis.measurement.info.kind == "image":
        pass  # a photo has no movement to summarise
    elif summary.get("affected_side"):
        print(f"summary: the {summary['affected_side']} side moved less "
              f"({summary.get('affected_side_support', 'the movements agree')})")
    elif summary.get("note"):
        print(f"summary: {summary['note']}")
    for line in _blink_lines(analysis.blink_summary):
        print(f"blinks: {line}")
    if analysis.measurement.info.kind == "image":
        shown = analysis.rest.get("expression")
        print("a photo: " + (f"the face shows {', '.join(shown).replace('_', ' ')}, not rest: "
                             "positions are of that expression" if shown else
                             "resting symmetry only") + " (movements need a video)")
        for name in ("brow_height", "palpebral_fissure", "mouth_corner_height"):
            item = analysis.rest[name]
            print(f"{name.replace('_', ' '):<20} left {number(item['left']):>6} mm  "
                  f"right {number(item['right']):>6} mm  "
                  f"left-right {number(item['left_minus_right_mm']):>5} mm")
    if analysis.not_performed:
        print(f"not detected as an exam movement: {', '.join(analysis.not_performed)}")
    for warning in analysis.measurement.quality.get("warnings", []):
        print(f"warning: {warning}")
    print(f"report: {paths[1]}  (data: {paths[0]}, per-frame table: {paths[2]})")
    print("facescore is a measurement aid, not a diagnostic device; its scores are not "
          "validated against clinical grading.")
    return 0


def cmd_photos(args: argparse.Namespace) -> int:
    from .diary import analyze_photos, list_photos
    from .display import number
    from .outputs import check_output_folder
    from .report.diary import write_diary

    check_output_folder(args.output)
    list_photos(args.photos)  # no photos, a non-photo in a folder: refused before any work
    with _progress("photos", not args.quiet, unit="photo") as progress:
        diary = analyze_photos(args.photos, mirrored=args.mirrored, rest=args.rest or (),
                               progress=progress)
        paths = write_diary(diary, args.output)
    for note in diary.notes:
        print(f"note: {note}")
    for p in diary.photos:
        line = f"{p.label:<16} {p.expression.replace('_', ' '):<12}"
        if p.excursion:
            left, right = p.excursion.get("left"), p.excursion.get("right")
            line += (f" left {number(left.value if left else None):>5} mm"
                     f"  right {number(right.value if right else None):>5} mm")
            if p.symmetry is not None:
                line += f"  symmetry {number(p.symmetry.value, 0):>3} %"
            line += f"  weaker: {p.weaker_side or 'neither (within normal variation)'}"
        print(f"{line}  (date: {p.date.source})")
    for movement, sides in diary.trends.items():
        print(f"trend, {movement.replace('_', ' ')}: " + "; ".join(
            f"{side} {t.direction} ({t.slope_mm:+.2f} mm per {t.per})"
            for side, t in sides.items()))
    print(f"diary: {paths['html']}  (table: {paths['csv']})")
    print("facescore is a measurement aid, not a diagnostic device; its scores are not "
          "validated against clinical grading.")
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from .batch import run_batch

    bar = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(desc="videos", unit="video", file=sys.stderr)

    def progress(done: int, total: int, result: dict) -> None:
        if bar is not None:
            bar.total = total
            bar.update(done - bar.n)
            if result["status"] == "failed":
                bar.write(f"failed: {result['path']}: {result['reason']}")

    try:
        result = run_batch(args.inputs, args.output, workers=args.workers,
                           scheduler=args.scheduler, mirrored=args.mirrored, progress=progress,
                           key_frames=False if args.every_frame else None)
    finally:
        if bar is not None:
            bar.close()
    run = result.run
    print(f"{run['n_videos']} videos: {run['done']} analysed, {run['skipped']} already done, "
          f"{run['failed']} failed ({run['seconds']:.0f} s, {run['engine']})")
    for failure in result.failures.itertuples():
        print(f"failed: {failure.path}: {failure.reason}")
    print(f"tables: {args.output / 'table.parquet'} ({len(result.table)} rows, one per video, "
          f"movement, repetition, metric and side), {args.output / 'videos.parquet'} (one row "
          "per video: quality, "
          "rest, symmetry, provenance); both also as CSV")
    print(f"failures: {args.output / 'failures.csv'}, run record: {args.output / 'run.json'}")
    return EXIT_SOME_FAILED if result.n_failed else 0


def cmd_session(args: argparse.Namespace) -> int:
    from .display import number, printable
    from .session import run_session

    camera = int(args.camera) if str(args.camera).isdigit() else args.camera
    result = run_session(camera, profile=args.profile, reps=args.reps, out_dir=args.output,
                         db=args.db, save_video=args.save_video, window=not args.no_window,
                         fast=args.fast)
    if result.ended_early:
        print(f"session ended early ({result.ended_early}); the {len(result.completed)} "
              "completed movement(s) were saved")
    for p in result.analysis.performances:
        print(f"{p.movement:<12} rep {p.rep}  left {number(p.left.excursion_mm):>5} mm  "
              f"right {number(p.right.excursion_mm):>5} mm  symmetry {_symmetry(p)}")
    profile = printable(args.profile, 80)
    print(f"report: {result.out_dir / 'report.html'}")
    db = f" --db {shlex.quote(str(args.db))}" if args.db else ""
    print(f"history: session {result.session_id} of profile '{profile}' "
          f"(see 'facescore history --profile {shlex.quote(profile)}{db}')")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from . import history
    from .display import printable
    from .outputs import atomic_directory, check_output_folder

    if args.export is not None or args.import_file is not None:
        return _history_transfer(args)
    check_output_folder(args.output)
    connection = history.connect(args.db)
    try:
        table = history.history_table(connection, args.profile)
    finally:
        connection.close()
    if table.empty:
        print("no sessions recorded yet" + (f" for profile '{printable(args.profile, 80)}'"
                                            if args.profile else ""))
        return 0
    _print_table(history.display_table(table))
    png = history.trend_png(table)
    with atomic_directory(args.output) as staging:
        (staging / "history.png").write_bytes(png)
        (staging / "history.html").write_text(history.history_html(table, png),
                                              encoding="utf-8")
    print(f"trend: {args.output / 'history.png'}, page: {args.output / 'history.html'}")
    return 0


def _history_transfer(args: argparse.Namespace) -> int:
    """``history --export FILE`` / ``--import FILE``: thin over :mod:`facescore.transfer`."""
    from . import history, transfer
    from .display import printable
    from .outputs import check_output_file

    if args.export is not None and args.import_file is not None:
        raise FacescoreError("--export and --import: one at a time")
    if args.export is not None:
        if not args.profile:
            raise FacescoreError("--export needs --profile (whose home sessions)")
        check_output_file(args.export, "export file")
        connection = history.connect(args.db)
        try:
            data = transfer.export_sessions(connection, args.profile)
        finally:
            connection.close()
        staging = args.export.with_name(f".{args.export.name}.part")
        staging.write_bytes(data)
        staging.replace(args.export)
        print(f"exported the home sessions of '{printable(args.profile, 80)}' to {args.export}")
        return 0
    try:
        data = args.import_file.read_bytes()
    except OSError as exc:
        raise FacescoreError(f"cannot read {args.import_file}: {exc.strerror or exc}") from None
    content = transfer.read_export(data)
    profile = args.profile or content["profile"]
    db = history.default_path() if args.db is None else args.db
    connection = history.connect(db)
    try:
        result = transfer.import_sessions(connection, content, profile,
                                          db.parent / "sessions" / history.profile_folder(profile))
    finally:
        connection.close()
    print(f"imported {len(result.imported)} session(s) into profile '{printable(profile, 80)}'"
          + (f" ({result.already} already there)" if result.already else ""))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from . import history
    from .app.server import serve

    data = args.data if args.data is not None else history.default_path().parent
    serve(data, host=args.host, port=args.port, open_browser=not args.no_browser,
          max_upload_mb=args.max_upload_mb, announce=lambda line: print(line, flush=True))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import (
        compare_reports,
        comparison_document,
        display_table,
        load_report,
        write_comparison,
    )
    from .outputs import check_output_folder

    check_output_folder(args.output)
    before, after = load_report(args.before), load_report(args.after)
    table = compare_reports(before, after)
    _print_table(display_table(table))
    paths = write_comparison(args.output, comparison_document(args.before, args.after, before,
                                                              after, table))
    print(f"wrote {paths[1]} and {paths[0]}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .pipeline import measure_video
    from .validation import NOISE_FLOOR_MM, compare_with_truth, load_truth, ratio_tolerance

    try:
        truth = load_truth(args.video)
    except FileNotFoundError:
        raise FacescoreError(f"no truth file {args.video}.truth.json beside the video") from None
    except ValueError as exc:
        raise FacescoreError(f"truth file {args.video}.truth.json cannot be read: {exc}") from None
    with _progress("measuring", not args.quiet) as progress:
        measurement = measure_video(args.video, mirrored=args.mirrored, progress=progress)
    table = compare_with_truth(measurement.frames, truth, methods=("flow",))
    table["allowed"] = ratio_tolerance(table["true_ratio"], table["true_left_mm"],
                                       args.tolerance)
    worst = table["ratio_error"].abs().max()
    print(table[["movement", "rep", "true_left_mm", "true_right_mm", "left_mm", "right_mm",
                 "true_ratio", "ratio", "allowed"]].round(2).to_string(index=False, na_rep="—"))
    verdict = "PASS" if (table["ratio_error"].abs() <= table["allowed"]).all() else "FAIL"
    print(f"{verdict}: worst |measured - true| right/left ratio = {worst:.3f} "
          f"(allowed: {args.tolerance}, more for small movements — the measurement's "
          f"{NOISE_FLOOR_MM} mm noise on each side)")
    return 0 if verdict == "PASS" else 1


def _mirrored_and_quiet(parser: argparse.ArgumentParser,
                        mirrored_help: str = "the saved file itself is a mirror image (some "
                                             "webcam apps save what their preview shows; "
                                             "camera and phone recordings are not): the "
                                             "frames are flipped back before measuring. "
                                             "Wrongly given, it swaps the patient's sides "
                                             "(default: off)"
                        ) -> None:
    parser.add_argument("--mirrored", action="store_true", help=mirrored_help)
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bar (default: a bar on a terminal)")


def _every_frame_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--every-frame", action="store_true",
                        help="run the face landmark model on every frame of a video: slower, "
                             "the tables agree within noise; the per-side measures read every "
                             "frame either way (default: on one frame in every 0.134 s of a "
                             "video of 20 fps or more, and on every frame where the face "
                             "changes faster than the frames between can be carried)")


def _history_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, metavar="FILE",
                        help="history database (default: $FACESCORE_HOME/history.sqlite, else "
                             "~/.local/share/facescore/history.sqlite)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facescore", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"facescore {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from .protocol import DISTRACTORS, MOVEMENTS, SCHEDULES

    p = sub.add_parser(
        "phantom", help="generate a ground-truth exam video from a face photo or a real video",
        description="Warp a face photo along its face mesh with a known movement per side, "
                    "rest → peak → rest for each movement, with mild head sway and noise. "
                    "Or, with --base-video, add the same movements onto a real recording "
                    "along its own tracked mesh, keeping its head motion, lighting, blinks, "
                    "talking, resolution and timestamps. Writes VIDEO and VIDEO.truth.json "
                    "(per-side excursion in mm, intervals). Use it to check an installation: "
                    "'facescore check VIDEO'; with --schedule session, to try "
                    "'facescore session --camera VIDEO'.")
    p.add_argument("output", type=Path, metavar="VIDEO", help="output video file (.mp4)")
    base = p.add_mutually_exclusive_group()
    base.add_argument("--photo", type=Path,
                      help="frontal face photo to warp (default: scikit-image's astronaut, "
                           "NASA public domain)")
    base.add_argument("--base-video", type=Path, metavar="CLIP",
                      help="a real recording to add the movements to (one face, frontal); it "
                           "must last the whole schedule (default: none, warp a photo)")
    p.add_argument("--right-gain", type=float, default=1.0, metavar="GAIN",
                   help="movement of the patient's right side as a share of normal: 1 = "
                        "normal, 0 = none (default 1)")
    p.add_argument("--left-gain", type=float, default=1.0, metavar="GAIN",
                   help="movement of the patient's left side as a share of normal (default 1)")
    p.add_argument("--gain", action="append", metavar="MOVEMENT:SIDE:GAIN",
                   help="override one movement's gain (share of normal) on one side, e.g. "
                        "eye_closure:right:0.2; blink:right:0.4 makes that eye's blinks "
                        "(--distractors blink) close 40 %% of the way; repeatable (default: "
                        "none)")
    p.add_argument("--order", nargs="+", default=list(MOVEMENTS), choices=MOVEMENTS,
                   metavar="MOVEMENT",
                   help=f"movements in the order performed, of {', '.join(MOVEMENTS)} "
                        f"(default: all, in that order)")
    p.add_argument("--reps", type=int, default=1, metavar="N",
                   help="repetitions of the whole order, a count (default 1)")
    p.add_argument("--distractors", nargs="+", choices=DISTRACTORS, metavar="NAME",
                   help="non-exam events to perform in the rests, which the analysis must not "
                        "score as exam movements: the first after the first movement, the "
                        "second after the second, and so on (any beyond the last movement "
                        "follow it; repeat a name to fill more rests; a rest holding one "
                        "lengthens to hold it). The truth lists them under 'distractors'. "
                        "NAME is one of — "
                        + "; ".join(f"{name}: {what}" for name, what in DISTRACTORS.items())
                        + " (default: none; exam schedule only)")
    p.add_argument("--schedule", choices=SCHEDULES, default="exam",
                   help="pacing of the movements: 'exam' is quick (1.2 s rest first, each "
                        "movement 1.4 s, 1 s rest after it); 'session' follows the script of "
                        f"'facescore session' ({SESSION_SCRIPT}), so the video can be played "
                        "as its camera (default exam)")
    p.add_argument("--lead-in", type=float, metavar="S",
                   help="rest before the first movement, s (default 1.2 s; exam schedule only)")
    p.add_argument("--size", metavar="WxH",
                   help="frame width x height, px (default 480x480; photo only)")
    p.add_argument("--face-width", type=float, metavar="SHARE",
                   help="face width as a share of the frame width, 0-1 (default 0.45; photo "
                        "only)")
    p.add_argument("--fps", type=float,
                   help="frame rate, frames per second (default 30; photo only)")
    p.add_argument("--noise", type=float, metavar="SD",
                   help="pixel noise, standard deviation in grey levels of 0-255 (default 2; "
                        "photo only)")
    p.add_argument("--mirror", action="store_true",
                   help="write a mirror image, as a webcam preview records (the truth stays "
                        "anatomical) (default: off)")
    p.add_argument("--seed", type=int, metavar="N",
                   help="seed of the pixel noise, an integer (default 0; photo only)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar (default: a bar on a terminal)")
    p.set_defaults(run=cmd_phantom)

    a = sub.add_parser(
        "analyze", help="a consult video (or a photo) in, a per-movement asymmetry report out",
        formatter_class=_LinesFormatter,
        description="Find rest and every brow raise, eye closure, smile and frown in the "
                    "video (any order, any number of repetitions), measure each side's "
                    "movement in mm, and write OUTDIR/report.html (open it in any browser; "
                    "it is one self-contained file), report.json (schema in "
                    "facescore/report/report.schema.json), frames.parquet and frames.csv.\n"
                    "A photo gives a resting-symmetry report: brow, eye and mouth-corner "
                    "position per side, and the photo with its measured points.\n"
                    "A damaged or truncated video is analysed as far as it can be read, "
                    "and the report says so at its top.",
        epilog="Sides are the patient's anatomical sides. A side is called weaker only "
               "outside normal variation (symmetry below 88 % and at least 1 mm difference, "
               "beyond the recording's own measured noise) and, in a smile or a brow raise, "
               "when the face landmarks read alone as a cross-check agree which side moved "
               "less.\n"
               "Segments file (CSV, UTF-8): start,end,movement per row, seconds from the "
               "start, movements not overlapping, e.g.\n"
               "  start,end,movement\n  1.2,2.6,brow_raise\n  3.6,5.0,eye_closure")
    a.add_argument("video", type=Path, metavar="VIDEO",
                   help="a video file (any format FFmpeg reads) or a photo (.jpg, .jpeg, .png, "
                        ".bmp, .tif, .tiff, .webp)")
    a.add_argument("-o", "--output", type=Path, default=Path("facescore_report"),
                   metavar="OUTDIR", help="output folder (default ./facescore_report)")
    a.add_argument("--segments", type=Path, metavar="FILE",
                   help="CSV or JSON of start (s), end (s), movement: use these instead of "
                        "detection (default: detect the movements)")
    a.add_argument("--overwrite", action="store_true",
                   help="replace a report of another recording in OUTDIR (default: refuse; "
                        "a re-run of the same file always replaces its own)")
    _every_frame_option(a)
    _mirrored_and_quiet(a)
    a.set_defaults(run=cmd_analyze)

    ph = sub.add_parser(
        "photos", help="a photo diary: dated photos of one face, each side measured, a trend "
                       "per expression", formatter_class=_LinesFormatter,
        description="Measure a series of photos of one face (a folder, or files) into "
                    "OUTDIR/diary.html, diary.csv (one row per photo and side) and "
                    "trend_<expression>.png. Each photo's date comes from its EXIF, else from "
                    "its file name (2026-03-14, 20260314, IMG_20260314_101530), else the "
                    "order given; each photo's expression is recognised (rest, smile, brow "
                    "raise, eye closure, frown, or another), and each side's movement is "
                    "measured against the rest photo nearest in time. Without a rest photo "
                    "only per-side positions are given.",
        epilog="Sides are the patient's anatomical sides. A side is called weaker only "
               "outside normal variation (symmetry below 88 % and at least 1 mm difference).\n"
               "Example:\n  facescore photos diary/ -o diary_report/\n"
               "  facescore photos diary/ -o out/ --rest 2026-03-01.jpg --mirrored")
    ph.add_argument("photos", nargs="+", type=Path, metavar="FOLDER",
                    help="a folder of photos (every file in it must be a photo), or photos")
    ph.add_argument("-o", "--output", type=Path, default=Path("facescore_diary"),
                    metavar="OUTDIR", help="output folder (default ./facescore_diary)")
    ph.add_argument("--rest", nargs="+", metavar="PHOTO",
                    help="photos of the face at rest, whatever their expression scores say "
                         "(for a face that reads as smiling at rest); default: recognised")
    _mirrored_and_quiet(ph, "the photos are mirror images (a selfie camera that saves its "
                            "preview); sides are corrected (default: off)")
    ph.set_defaults(run=cmd_photos)

    b = sub.add_parser(
        "batch", help="analyse many recordings: parallel, resumable, one tidy table",
        formatter_class=_LinesFormatter,
        description="Analyse every input video into OUTDIR/videos/<name>-<8 hex>/ (the "
                    "analyze outputs; <8 hex> is a hash of its full path, so that files of "
                    "the same name stay apart) "
                    "and write OUTDIR/table.parquet and table.csv (one row per video, "
                    "movement, repetition, metric and side, with its sides, scored and flags "
                    "as in report.json and any manifest metadata), videos.parquet and "
                    "videos.csv (one row per video: face_found_fraction, pose_ok_fraction, "
                    "warnings, rest measures, overall symmetry, facescore version, "
                    "model sha256, options), failures.csv and run.json. A rerun skips videos "
                    "already done with the same content and settings, so a batch stopped by "
                    "Ctrl-C (or killed) is finished by running the same command again.",
        epilog="Inputs: video files, folders (searched recursively), globs ('data/**/*.mp4') "
               "or a manifest CSV (UTF-8) with a 'path' column plus metadata columns, e.g.\n"
               "  path,subject,session,lesion_side\n  s01/pre.mp4,s01,pre,right\n"
               "A name holding a comma or a quote is written in double quotes, its quotes "
               "doubled. Every listed file must exist, once.\n"
               "Exit status: 0 all analysed, 3 some failed (see failures.csv), 2 bad usage, "
               "130 stopped by Ctrl-C.")
    b.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video files, folders, globs or one manifest CSV (see below)")
    b.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR",
                   help="output folder (required)")
    b.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local worker processes, a count (default: one per core)")
    b.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on a Dask distributed cluster, e.g. tcp://10.0.0.5:8786; needs "
                        "pip install 'facescore[cluster]' (default: none, run locally)")
    _every_frame_option(b)
    _mirrored_and_quiet(b, "every saved file is itself a mirror image (some webcam apps save "
                           "what their preview shows): frames flipped back before measuring "
                           "(default: off)")
    b.set_defaults(run=cmd_batch)

    s = sub.add_parser(
        "session", help="guided home-exercise session with live feedback",
        description="Prompts rest, brow raise, eye closure, smile and frown in a window with a "
                    "countdown and hold timer, shows each side's movement live as a bar "
                    "(its travel from its own rest, both sides on one scale), then writes "
                    "the same report as 'analyze' and adds one row per movement to your "
                    "history. No video is "
                    f"kept unless --save-video. The script: {SESSION_SCRIPT}. Keys: p pause, "
                    "s skip, q quit early (keeps the completed movements); Ctrl-C abandons "
                    "the session (nothing is recorded).",
        epilog="A video file given as --camera is played as if it were live, so it must "
               "follow the session's script; 'facescore phantom VIDEO --schedule session' "
               "makes one. The window needs a display (use --no-window without one).")
    s.add_argument("--camera", default="0",
                   help="camera index, or a video file played as a live camera (default 0)")
    s.add_argument("--profile", default="default",
                   help="whose history this session joins (default 'default')")
    s.add_argument("--reps", type=int, default=1, metavar="N",
                   help="repetitions of the whole script, a count (default 1)")
    s.add_argument("-o", "--output", type=Path, metavar="OUTDIR",
                   help="report folder (default: sessions/PROFILE/TIME beside the history "
                        "database)")
    _history_option(s)
    s.add_argument("--save-video", action="store_true",
                   help="also keep the recording as session.mp4 (default: off)")
    s.add_argument("--fast", action="store_true",
                   help="with a video file: play it as fast as it can be measured (default: "
                        "at its own pace)")
    s.add_argument("--no-window", action="store_true",
                   help="run without a window (default: a window, which needs a display)")
    s.set_defaults(run=cmd_session)

    h = sub.add_parser("history", help="progress across sessions: table and trend plot",
                       description="Print symmetry (%) and each side's excursion (mm) per "
                                   "movement for every recorded session ('—' where not "
                                   "measured), and write a trend plot (PNG) and a page "
                                   "(HTML).")
    h.add_argument("--profile", help="only this profile (default: every profile)")
    _history_option(h)
    h.add_argument("-o", "--output", type=Path, default=Path("facescore_history"),
                   metavar="OUTDIR",
                   help="folder for history.png and history.html (default ./facescore_history)")
    h.add_argument("--export", type=Path, metavar="FILE",
                   help="write the home sessions of --profile to one file (JSON, with a "
                        "checksum) to take to the clinic, instead of the table (default: "
                        "none, the table)")
    h.add_argument("--import", dest="import_file", type=Path, metavar="FILE",
                   help="add the sessions of an export file to the history (into --profile, "
                        "default the profile it was exported from); a file that is not a "
                        "facescore export is refused and nothing is written")
    h.set_defaults(run=cmd_history)

    w = sub.add_parser(
        "serve", help="the clinic web app: patients, visits, reports, timelines",
        description="Serve the clinic app on this machine and open it in the browser: "
                    "patients and their visits, consult videos uploaded and analysed in the "
                    "background, reports to read and print, each patient's timeline (home "
                    "sessions included) and any two visits side by side. Everything stays in "
                    "the data folder; nothing is sent anywhere. Ctrl-C stops it.",
        epilog="The data folder holds history.sqlite, the store 'facescore session' and "
               "'facescore history' use too (their --db): home sessions recorded with "
               "--profile P appear on patient P's timeline. Off loopback (--host 0.0.0.0) "
               "every request needs the token printed at start.")
    w.add_argument("--data", type=Path, metavar="DIR",
                   help="data folder (default: $FACESCORE_HOME or ~/.local/share/facescore)")
    w.add_argument("--port", type=int, default=8765,
                   help="TCP port number (default 8765; 0: any free port)")
    w.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, this machine only)")
    w.add_argument("--no-browser", action="store_true",
                   help="do not open a browser (default: open one)")
    w.add_argument("--max-upload-mb", type=int, default=2048, metavar="MB",
                   help="largest upload accepted, MB (default 2048 MB)")
    w.set_defaults(run=cmd_serve)

    c2 = sub.add_parser("compare", help="change per movement between two reports",
                        description="Compare two reports (report.json or their folders), e.g. "
                                    "before and after treatment: per movement, each side's "
                                    "excursion (mm) and the symmetry (%), and their change "
                                    "(after − before; '—' where a report lacks the value). "
                                    "Prints the table and writes OUTDIR/compare.html and "
                                    "compare.json.")
    c2.add_argument("before", type=Path, help="the earlier report (report.json or its folder)")
    c2.add_argument("after", type=Path, help="the later report (report.json or its folder)")
    c2.add_argument("-o", "--output", type=Path, default=Path("facescore_compare"),
                    metavar="OUTDIR",
                    help="folder for compare.html and compare.json (default ./facescore_compare)")
    c2.set_defaults(run=cmd_compare)

    m = sub.add_parser(
        "measure", help="per-frame, per-side measurements of a video",
        description="Track the face and write the per-frame table (frames.parquet, frames.csv; "
                    "columns documented in facescore.table) and measurement.json "
                    "(input, mm calibration, quality).")
    m.add_argument("video", type=Path, metavar="VIDEO", help="a video file or a photo")
    m.add_argument("-o", "--output", type=Path, default=Path("facescore_out"), metavar="OUTDIR",
                   help="output folder (default ./facescore_out)")
    _mirrored_and_quiet(m)
    m.set_defaults(run=cmd_measure)

    c = sub.add_parser(
        "check", help="measure a phantom video and compare with its truth",
        description="Set-up check: measures a video made by 'facescore phantom' and compares "
                    "each movement's right/left ratio with the truth. Exit 0 when all are "
                    "within --tolerance, 1 otherwise.")
    c.add_argument("video", type=Path, metavar="VIDEO",
                   help="a phantom video, with VIDEO.truth.json beside it")
    c.add_argument("--tolerance", type=float, default=0.15, metavar="RATIO",
                   help="largest accepted |measured - true| right/left movement ratio, a plain "
                        "ratio (default 0.15: the measure's worst error on photo phantoms, "
                        "see docs/measurement.md); a small movement is also allowed what "
                        "0.4 mm of noise on each side makes of its ratio")
    _mirrored_and_quiet(c)
    c.set_defaults(run=cmd_check)
    return parser


def _interrupted_message(exc: KeyboardInterrupt) -> str:
    detail = getattr(exc, "detail", "") or ""
    return "facescore: interrupted" + (f"; {detail}" if detail else "")


#: The signal that stopped this run, once one has (see :func:`_on_signal`).
_stopped_by: int | None = None


def _on_signal(signum: int, _frame: object = None) -> None:
    """Ctrl-C and SIGTERM in the command: stop the work with :class:`~.errors.Interrupted` (a
    KeyboardInterrupt, so every clean-up runs) and remember the signal, since one that lands
    while an extension module initialises comes out as that import's error instead (scipy:
    "ImportError: initialization failed")."""
    global _stopped_by
    _stopped_by = signum
    raise_interrupted(signum)


def main(argv: list[str] | None = None) -> int:
    global _stopped_by
    import threading

    from . import _interrupted_while_starting

    _stopped_by = None
    previous: dict[int, object] = {}
    try:
        # Only the main thread may set handlers (tests call main in threads too). Until here
        # (the imports) a signal simply ended the process (facescore/__init__.py); from here
        # it raises, so that what the command starts is cleaned up. SIGTERM (a service
        # manager, 'kill') stops the run as Ctrl-C does. An ignored SIGINT (a background job)
        # stays ignored.
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                current = signal.getsignal(sig)
                if current is not signal.SIG_IGN:
                    previous[sig] = signal.signal(sig, _on_signal)
                    if current is _interrupted_while_starting:
                        previous[sig] = (signal.default_int_handler if sig == signal.SIGINT
                                         else signal.SIG_DFL)
        args = build_parser().parse_args(argv)
        if args.command == "serve":
            # The server is left alone: it opens the user's browser, which inherits the
            # environment (its analysis worker refuses the network itself).
            return args.run(args)
        # Before MediaPipe loads: its usage reporting must not send the exam anywhere.
        from .offline import network_refused

        with network_refused():
            return args.run(args)
    except FacescoreError as exc:
        if _stopped_by is not None:
            return _interrupted(KeyboardInterrupt(), _stopped_by)
        print(f"facescore: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt as exc:
        return _interrupted(exc, getattr(exc, "signum", _stopped_by or signal.SIGINT))
    except Exception:
        if _stopped_by is not None:  # the signal surfaced as another error (see _on_signal)
            return _interrupted(KeyboardInterrupt(), _stopped_by)
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupted(exc: KeyboardInterrupt, signum: int) -> int:
    print(_interrupted_message(exc), file=sys.stderr)
    return EXIT_SIGNAL_BASE + int(signum)


def run() -> None:
    """The ``facescore`` command (its script and ``python -m facescore``): :func:`main`, and
    exit with its status."""
    import os

    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader of our output left (``facescore analyze … | head``): the files are
        # written; say nothing more to a closed pipe, and exit as a process killed by SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_SIGNAL_BASE + int(signal.SIGPIPE))
    _exit(status)


def _exit(status: int) -> None:
    """End the process with ``status`` as a normal exit would — other threads joined, the exit
    handlers run (multiprocessing's, weakref finalizers, logging's), output flushed — but
    without tearing down every module one by one, which takes ~0.4 s once pandas, scipy and
    matplotlib are loaded. (CPython would also end the process by killing itself with the
    signal rather than with this status, once a Ctrl-C has passed through an eval() while
    modules imported, even when caught: this exit keeps the status.)"""
    import atexit
    import os
    import threading

    if status <= EXIT_SIGNAL_BASE:  # a stopped run does not wait for its threads
        for thread in threading.enumerate():
            if thread is not threading.current_thread() and not thread.daemon:
                thread.join()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    run()
