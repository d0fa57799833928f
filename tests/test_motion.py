"""The measuring core's building blocks: properties, on synthetic pictures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facescore import eyelids
from facescore.eyelids import TRAVEL_SEARCH, eye_model, read_lid
from facescore.motion import area_reduce, choose_results, normalise_contrast, working_picture
from facescore.segments import hysteresis, turning_points


@pytest.mark.parametrize("scale", [0.3, 0.55, 1.0, 1.7])
def test_working_picture_keeps_positions(scale):
    """A horizontal ramp stays a ramp: each working pixel shows the frame column it maps to,
    whether the picture shrinks (area-averaged first) or grows."""
    width = 900
    columns = np.arange(width, dtype=float)
    ramp = np.tile(np.round(20 + 215 * columns / width), (600, 1)).astype(np.uint8)
    size = 200
    to_working = np.array([[scale, 0.0, size / 2 - scale * 450], [0.0, scale,
                                                                 size / 2 - scale * 300]])
    out = working_picture(ramp, to_working, size).astype(float)
    j = np.arange(size // 4, 3 * size // 4)
    source = (j - to_working[0, 2]) / scale
    expected = np.interp(source, columns, ramp[0].astype(float))
    assert np.abs(out[size // 2, j] - expected).max() <= 1.5


@pytest.mark.parametrize("factor", [2, 3, 4, 5, 7])
def test_area_reduce_is_opencvs_area_average(factor):
    """The faster box-blur route gives OpenCV's INTER_AREA pixels exactly, partial blocks
    left out, on noise, hard edges and a strided view of a larger frame."""
    rng = np.random.default_rng(factor)
    frame = rng.integers(0, 256, (301, 415)).astype(np.uint8)
    frame[:, ::7] = 255
    region = frame[13:290, 21:400]
    h, w = region.shape[0] // factor, region.shape[1] // factor
    expected = cv2.resize(region[:h * factor, :w * factor], (w, h), interpolation=cv2.INTER_AREA)
    assert np.array_equal(area_reduce(region, factor), expected)


@pytest.mark.parametrize("per_column", [False, True])
def test_lid_band_costs_inside_the_picture_equal_the_masked_ones_to_the_bit(per_column):
    """The shortcut for a band that stays inside the picture gives the masked computation's
    costs exactly (same numbers, so that a faster measure changes no reading), for shifts
    common to all columns and per column."""
    rng = np.random.default_rng(3)
    rest = rng.uniform(0, 255, (40, 30)).astype(np.float32)
    current = rng.uniform(0, 255, (40, 30)).astype(np.float32)
    band = eyelids.Band.of(rest, np.full(30, 12.0) + rng.uniform(0, 3, 30), np.full(30, 20.0))
    trials = np.arange(-3.0, 6.0, 0.25)
    shifts = trials[:, None] * rng.uniform(0.5, 1.0, 30)[None, :] if per_column else trials
    per_pixel = (np.asarray(shifts, dtype=np.float32)[:, band.cols] if per_column
                 else np.asarray(shifts, dtype=np.float32)[:, None])
    target = np.ascontiguousarray(band.rows[None, :] + per_pixel)  # as band_costs makes it
    flat = current.ravel()
    inside = eyelids._inside_costs(band, flat, 30, target)
    assert np.array_equal(inside, eyelids._masked_costs(band, flat, 30, target))
    assert np.array_equal(inside, eyelids.band_costs(band, current, shifts))


def test_contrast_normalisation_ignores_gain_and_offset():
    rng = np.random.default_rng(0)
    texture = rng.normal(120, 15, (120, 120)).clip(0, 255)
    brighter = 1.3 * texture + 20  # more light and exposure: nothing clips
    a, b = normalise_contrast(texture.astype(np.uint8)), normalise_contrast(
        brighter.astype(np.uint8))
    # The normalised unit is 48 grey levels: the two agree to a few per cent of it.
    assert np.abs(a.astype(int) - b.astype(int))[20:-20, 20:-20].mean() < 3


def test_anchored_result_wins_when_the_chain_drifted_at_rest():
    chained = np.array([[10.0, 10.0], [20.0, 20.0]])
    anchored = np.array([[10.2, 10.0], [23.0, 20.0]])  # second: the chain drifted 3 px
    ok = np.array([True, True])
    position, valid, used = choose_results(chained, ok, anchored, ok,
                                           at_rest=np.array([False, True]))
    assert used.tolist() == [True, True]  # agrees; at rest
    moving = choose_results(chained, ok, anchored, ok, at_rest=np.array([False, False]))
    assert moving[2].tolist() == [True, False]  # moving and disagreeing: the chain follows
    assert np.allclose(moving[0][1], chained[1])


def _eye_picture(lid_row: float, size=(80, 60)) -> np.ndarray:
    """A synthetic eye: skin, a dark lash line at the upper margin, a dark iris below it and
    skin again under the lower lid; the lid (skin with a texture) slides down over the eye."""
    h, w = size[1], size[0]
    rows = np.arange(h)[:, None] * np.ones((1, w))
    rng = np.random.default_rng(3)
    skin = 150 + 12 * np.sin(rows / 2.3) + rng.normal(0, 2, (h, w))
    picture = skin.copy()
    eye = (rows >= 25) & (rows < 40)
    picture[eye] = 60 + 40 * np.cos(np.arange(w)[None, :] / 6.0).repeat(h, 0)[eye]
    lid = rows < lid_row
    shifted = np.roll(skin, int(round(lid_row - 25)), axis=0)
    picture[lid] = shifted[lid]
    lashes = np.abs(rows - lid_row) < 1.5
    picture[lashes] = 40
    return picture.clip(0, 255).astype(np.uint8)


def test_lid_travel_follows_a_sliding_lid_and_ignores_the_eye_below():
    rest = normalise_contrast(_eye_picture(25.0))
    upper = np.array([[20.0, 25.0], [40.0, 25.0], [60.0, 25.0]])
    lower = np.array([[20.0, 40.0], [40.0, 40.0], [60.0, 40.0]])
    model = eye_model(rest, upper, lower)
    origin = model.origin.astype(int)
    h, w = model.rest.shape

    def reading(lid_row: float) -> float:
        picture = normalise_contrast(_eye_picture(lid_row)).astype(np.float32)
        return read_lid(model, picture[origin[1]:origin[1] + h, origin[0]:origin[0] + w]
                        ).narrowing

    travels = [reading(25.0 + d) for d in (0.0, 4.0, 8.0, 12.0)]
    assert abs(travels[0]) < 0.75
    assert np.all(np.diff(travels) > 2.0)  # monotone in the true travel
    assert abs(travels[-1] - 12.0) < 2.0


def test_no_lid_within_the_search_is_no_reading():
    """A lid search whose best match lies at its wide-open bound found no lid there (behind
    glasses it settles on the rim): the frame gives no narrowing, not the bound as a value.
    A lid raised within the search still reads as opened wider."""
    rest = normalise_contrast(_eye_picture(25.0)).astype(np.float32)
    upper = np.array([[20.0, 25.0], [40.0, 25.0], [60.0, 25.0]])
    lower = np.array([[20.0, 40.0], [40.0, 40.0], [60.0, 40.0]])
    model = eye_model(rest, upper, lower)
    origin = model.origin.astype(int)
    h, w = model.rest.shape
    widest = -TRAVEL_SEARCH[0] * model.aperture  # rows the search allows the lid to rise

    def reading(rise_rows: int) -> float:
        picture = rest.copy()  # everything above the lower lid moved up, the lower lid kept
        above = int(model.lower.min())
        picture[:above] = np.roll(rest, -rise_rows, axis=0)[:above]
        return read_lid(model, picture[origin[1]:origin[1] + h, origin[0]:origin[0] + w]
                        ).narrowing

    within = int(widest) - 1
    assert reading(within) == pytest.approx(-within, abs=0.5)
    assert np.isnan(reading(int(np.ceil(widest)) + 2))


def test_a_lid_can_close_all_the_way_at_the_centre_of_a_curved_eye(monkeypatch):
    """The lid search reaches down to the eye's central resting gap (the lid meeting the lower
    lid where they are furthest apart), not only to the mean gap of the central lid points:
    bounded by the mean, every complete blink of mahie's webcam read 93.5 % closed."""
    from facescore import eyelids

    rest = normalise_contrast(_eye_picture(25.0)).astype(np.float32)
    upper = np.array([[20.0, 25.0], [40.0, 25.0], [60.0, 25.0]])
    lower = np.array([[20.0, 37.0], [40.0, 40.0], [60.0, 37.0]])  # deepest at the centre
    model = eye_model(rest, upper, lower)
    central_gap = float((model.lower - model.margin).max())
    assert central_gap > model.aperture + 1
    bounds = []
    real = eyelids.best_shift
    monkeypatch.setattr(eyelids, "best_shift", lambda *args, **kwargs: (
        bounds.append(args[2:4]), real(*args, **kwargs))[1])
    read_lid(model, rest)
    lid_search = bounds[-1]  # registration first, then the lid
    assert lid_search[1] == pytest.approx(central_gap)
    assert lid_search[0] == pytest.approx(TRAVEL_SEARCH[0] * model.aperture)


def test_hysteresis_needs_the_on_level_and_ends_below_off():
    signal = np.array([0, 0.8, 2.5, 1.0, 0.9, 0.2, 0, 1.5, 0.1])
    assert hysteresis(signal, on=2.0, off=0.7) == [(1, 5)]


def test_turning_points_skip_wiggles_smaller_than_the_hysteresis():
    x = np.array([0, 0.3, 0.1, 3.0, 2.8, 0.2, 0.4, 3.1, 0.0])
    assert turning_points(x, 1.5) == [3, 5, 7]
