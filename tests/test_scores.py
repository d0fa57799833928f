"""Properties of the per-side excursion estimator (the held level, :func:`held_travel`)."""

from __future__ import annotations

import numpy as np
import pytest

from facescore.scores import HELD_S, held_travel, largest_excursions


def _held_movement(fps: float, level_mm: float, hold_s: float = 1.0, ramp_s: float = 0.5):
    """Rest, a ramp up, a hold at ``level_mm``, a ramp down, rest: (times s, travel mm)."""
    t = np.arange(0.0, 2 * ramp_s + hold_s + 1.0, 1.0 / fps)
    up = np.clip((t - 0.5) / ramp_s, 0, 1)
    down = np.clip((t - 0.5 - ramp_s - hold_s) / ramp_s, 0, 1)
    return t, level_mm * (up - down)


@pytest.mark.parametrize("fps", [7.7, 15.0, 30.0, 60.0])
def test_a_held_movement_keeps_its_level(fps):
    t, moved = _held_movement(fps, 6.0)
    assert largest_excursions({"left": held_travel(t, moved)})["left"] == pytest.approx(6.0)


@pytest.mark.parametrize("fps", [7.7, 15.0, 30.0])
def test_a_spike_shorter_than_half_the_window_is_not_the_movement(fps):
    t, moved = _held_movement(fps, 3.0)
    spiked = moved.copy()
    frames = max(1, int(HELD_S * fps / 2))
    centre = int(np.argmax(moved))
    spiked[centre:centre + frames] += 4.0  # a blink dragging the brow, a jolt of the head
    assert largest_excursions({"left": held_travel(t, spiked)})["left"] == pytest.approx(3.0)


@pytest.mark.parametrize("fps", [7.7, 15.0, 30.0])
def test_a_still_side_reads_less_than_its_raw_largest_sample(fps):
    """On white noise (a frozen side), the held level's largest value is well below the raw
    largest sample's, on average over many performances."""
    rng = np.random.default_rng(0)
    t = np.arange(0.0, 2.0, 1.0 / fps)
    noise = rng.normal(0.0, 0.5, size=(400, len(t)))
    held = np.array([np.nanmax(held_travel(t, row)) for row in noise])
    raw = noise.max(axis=1)
    assert held.mean() < 0.8 * raw.mean()


def test_unmeasured_frames_do_not_count_and_nothing_measured_is_nan():
    t, moved = _held_movement(15.0, 5.0)
    gappy = moved.copy()
    gappy[::3] = np.nan
    assert largest_excursions({"left": held_travel(t, gappy)})["left"] == pytest.approx(5.0)
    empty = held_travel(t, np.full(len(t), np.nan))
    assert np.isnan(largest_excursions({"left": empty})["left"])


def test_mirrored_sides_read_the_same():
    t, moved = _held_movement(30.0, 4.0)
    rng = np.random.default_rng(1)
    noisy = moved + rng.normal(0, 0.2, len(t))
    a = largest_excursions({"left": held_travel(t, noisy), "right": held_travel(t, moved)})
    b = largest_excursions({"left": held_travel(t, moved), "right": held_travel(t, noisy)})
    assert a["left"] == b["right"] and a["right"] == b["left"]

