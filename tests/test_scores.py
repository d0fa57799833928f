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



def test_the_resting_noise_has_no_cliff_at_any_quiet_share():
    """The noise moves continuously and monotonically from the busy clip's (all frames outside
    events) to the quiet frames' own as the quiet share grows: one grey level of dither moving
    a clip's quiet share a few hundredths must not move its noise by a factor."""
    from facescore.analysis import QUIET_SHARE_RANGE
    from facescore.uncertainty import blend_noise, quiet_weight

    still = {"eye_closure": {"left": 0.8, "right": 0.5}}
    busy = {"eye_closure": {"left": 3.0, "right": 0.5}}
    shares = np.linspace(0.0, 1.0, 1001)
    noise = np.array([blend_noise(still, busy, quiet_weight(s, *QUIET_SHARE_RANGE))
                      ["eye_closure"]["left"] for s in shares])
    assert noise[0] == 3.0 and noise[-1] == 0.8
    assert np.all(np.diff(noise) <= 0)
    # No step larger than the steepest continuous slope allows over a 0.001 change of share.
    slope = np.log(3.0 / 0.8) / (QUIET_SHARE_RANGE[1] - QUIET_SHARE_RANGE[0])
    assert np.max(np.abs(np.diff(np.log(noise)))) <= slope * 0.001 * 1.01
    same = [blend_noise(still, busy, quiet_weight(s, *QUIET_SHARE_RANGE))["eye_closure"]["right"]
            for s in shares]
    assert np.allclose(same, 0.5)


def test_a_noise_only_one_way_can_measure_is_taken_from_it():
    from facescore.uncertainty import blend_noise

    still = {"smile": {"left": float("nan"), "right": 0.4}}
    busy = {"smile": {"left": 1.2, "right": float("nan")}}
    assert blend_noise(still, busy, 0.5) == {"smile": {"left": 1.2, "right": 0.4}}
    both = blend_noise({"smile": {"left": float("nan")}}, {"smile": {"left": float("nan")}}, 0.5)
    assert np.isnan(both["smile"]["left"])
