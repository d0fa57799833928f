"""The photo diary's measure on phantom photos: noise, accuracy per movement, a recovering series.

For each base face (scikit-image's astronaut, and ../shared/data/neutral.jpeg when present):

1. **Noise**: six rest photos, each framed differently (the phantom's sway at another moment,
   own pixel noise), measured against a first rest photo. Robust SD (1.4826 x MAD about 0) of
   each movement's per-side reading, by the flow (:func:`facescore.diary.excursions_against`)
   and by the landmarks alone (head-fixed positions, scaled by the inter-ocular distance).
2. **Accuracy**: each movement with the left side at gain 1 and the right at 0, 0.2, 0.5, 1:
   each side's measured excursion against the truth, both methods.
3. **Series**: a rest photo and ten smiles whose right side recovers from 0.2 to 1.0 over ten
   days, through :func:`facescore.diary.analyze_photos` (the astronaut's rest photo named: it
   smiles at rest): recognised expression, measured vs true excursions and symmetry, weaker side.

Run: ``python benchmarks/photo_diary.py`` (about a minute on 2 cores). Prints markdown tables.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from facescore.anatomy import SIDES
from facescore.diary import _read_face, analyze_photos, excursions_against
from facescore.landmarks import FaceTracker
from facescore.motion import landmark_signals
from facescore.phantom import MOVEMENTS, PhantomSpec, astronaut, load_base_face, phantom_photo
from facescore.segments import SMILE_DIRECTION

SHARED_FACE = Path(__file__).resolve().parents[2] / "shared" / "data" / "neutral.jpeg"


def faces():
    yield "astronaut", load_base_face(*astronaut())
    if SHARED_FACE.exists():
        rgb = np.asarray(Image.open(SHARED_FACE).convert("RGB"))
        yield "neutral.jpeg", load_base_face(rgb, "neutral.jpeg")


def landmark_excursions(rest, photo) -> dict[str, dict[str, float]]:
    """Each movement's per-side reading from head-fixed landmarks alone, mm (the photo brought
    to the rest photo's scale by the inter-ocular distance)."""
    def iod(face):
        return float(np.linalg.norm(face.points[473, :2] - face.points[468, :2]))

    scaled = photo.head * iod(rest) / iod(photo)
    lm = landmark_signals(scaled * rest.mm_per_px, rest.head * rest.mm_per_px)
    out = {}
    for movement in MOVEMENTS:
        out[movement] = {}
        for side in SIDES:
            if movement == "smile":
                value = (SMILE_DIRECTION[0] * lm[f"mouth_out_lm_{side}"]
                         + SMILE_DIRECTION[1] * lm[f"mouth_up_lm_{side}"])
            elif movement == "eye_closure":
                value = lm[f"lid_drop_lm_{side}"]
            else:
                sign = 1.0 if movement == "brow_raise" else -1.0
                value = sign * lm[f"brow_lift_lm_{side}"]
            out[movement][side] = float(value)
    return out


def measure(folder: Path, tracker, name: str, rgb: np.ndarray):
    path = folder / name
    Image.fromarray(rgb).save(path)
    return _read_face(path, tracker, False)


def main() -> int:
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp, FaceTracker() as tracker:
        folder = Path(tmp)
        for label, face in faces():
            rest = measure(folder, tracker, "rest.png",
                           phantom_photo(face, None, PhantomSpec(seed=99)).rgb)
            print(f"\n## {label}\n\n### Noise: rest photos against a rest photo (robust SD, mm)\n")
            readings = {"flow": [], "landmarks": []}
            for k in range(6):
                other = measure(folder, tracker, f"rest{k}.png", phantom_photo(
                    face, None, PhantomSpec(seed=50 + k), pose_t=0.9 * (k + 1) + 0.3).rgb)
                readings["flow"].append(excursions_against(rest, other)[0])
                readings["landmarks"].append(landmark_excursions(rest, other))
            print("| method | " + " | ".join(m.replace("_", " ") for m in MOVEMENTS) + " |")
            print("|---" * (len(MOVEMENTS) + 1) + "|")
            for method, values in readings.items():
                cells = []
                for m in MOVEMENTS:
                    v = np.array([r[m][s] for r in values for s in SIDES])
                    v = v[np.isfinite(v)]
                    cells.append(f"{1.4826 * np.median(np.abs(v)):.2f}")
                print(f"| {method} | " + " | ".join(cells) + " |")
            print("\n### Accuracy: left at gain 1, right at g (measured / true, mm)\n")
            print("| movement | right g | true L | true R | flow L | flow R | landmarks L "
                  "| landmarks R |")
            print("|---|---|---|---|---|---|---|---|")
            for m in MOVEMENTS:
                for i, g in enumerate((0.0, 0.2, 0.5, 1.0)):
                    spec = PhantomSpec(gains={m: {"left": 1.0, "right": g}}, seed=10 + i)
                    shot = phantom_photo(face, m, spec, pose_t=1.7 * (i + 1))
                    photo = measure(folder, tracker, f"{m}{i}.png", shot.rgb)
                    flow = excursions_against(rest, photo)[0][m]
                    lm = landmark_excursions(rest, photo)[m]
                    print(f"| {m.replace('_', ' ')} | {g:g} | "
                          f"{shot.truth['left']['excursion_mm']:.2f} | "
                          f"{shot.truth['right']['excursion_mm']:.2f} | {flow['left']:.2f} | "
                          f"{flow['right']:.2f} | {lm['left']:.2f} | {lm['right']:.2f} |")
            series = folder / f"series_{label}"
            series.mkdir()
            truth = {}
            Image.fromarray(phantom_photo(face, None, PhantomSpec(seed=99)).rgb).save(
                series / "2026-03-01_rest.png")
            for day, gain in enumerate(np.linspace(0.2, 1.0, 10)):
                spec = PhantomSpec(gains={"smile": {"left": 1.0, "right": float(gain)}},
                                   seed=day)
                shot = phantom_photo(face, "smile", spec, pose_t=1.37 * (day + 1))
                name = f"2026-03-{day + 2:02d}_smile.png"
                Image.fromarray(shot.rgb).save(series / name)
                truth[name] = shot.truth
            named = ["2026-03-01_rest.png"] if label == "astronaut" else []
            t0 = time.time()
            diary = analyze_photos([series], rest=named)
            elapsed = time.time() - t0
            print(f"\n### Series: ten smiles, right recovering 0.2 → 1.0 ({elapsed:.1f} s for "
                  f"11 photos{', rest photo named' if named else ''})\n")
            print("| date | recognised | right gain | true L / R (mm) | measured L / R (mm) "
                  "| true sym. | measured sym. (95 %) | weaker |")
            print("|---|---|---|---|---|---|---|---|")
            for p in diary.photos:
                t = truth.get(p.path.name)
                if t is None:
                    print(f"| {p.label} | {p.expression} ({p.expression_basis}) | | | | | | |")
                    continue
                left, right = p.excursion["left"], p.excursion["right"]
                sym = p.symmetry
                print(f"| {p.label} | {p.expression} | {t['gains']['right']:.2f} | "
                      f"{t['left']['excursion_mm']:.1f} / {t['right']['excursion_mm']:.1f} | "
                      f"{left.value:.1f} / {right.value:.1f} | {t['symmetry_pct']:.0f} | "
                      f"{sym.value:.0f} ({sym.low:.0f}-{sym.high:.0f}) | "
                      f"{p.weaker_side or '-'} |")
            for side, trend in diary.trends["smile"].items():
                print(f"\nTrend {side}: {trend.direction}, {trend.slope_mm:+.3f} mm/day "
                      f"({trend.low_mm:+.3f} to {trend.high_mm:+.3f})")
    print(f"\n{time.time() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
