"""The phantom itself: its truth follows the gains, and its warp puts vertices where it says."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from facescore import geometry
from facescore.phantom import (
    FIELDS,
    MOVEMENTS,
    PhantomSpec,
    _anchors,
    _placement,
    astronaut,
    load_base_face,
    render_frame,
    schedule,
    side_truth,
    uncovered_eye_mask,
)


@pytest.fixture(scope="module")
def face():
    return load_base_face(*astronaut())


@pytest.mark.parametrize("movement", MOVEMENTS)
def test_fields_move_only_their_own_side(face, movement):
    for side in ("left", "right"):
        field = FIELDS[movement](face, side)
        u = (face.points - face.origin) @ face.to_left
        other = (u < 0) if side == "left" else (u > 0)
        assert np.abs(field[other]).max() == 0
        assert side_truth(face, movement, field, side)["excursion_mm"] > 1.0


@pytest.mark.parametrize("movement", MOVEMENTS)
def test_truth_scales_with_gain(face, movement):
    field = FIELDS[movement](face, "right")
    full = side_truth(face, movement, field, "right")["excursion_mm"]
    for gain in (0.0, 0.25, 0.5, 1.0):
        assert side_truth(face, movement, gain * field, "right")["excursion_mm"] == \
            pytest.approx(gain * full, abs=1e-9)


def test_truth_is_mirror_symmetric_in_size(face):
    """Both sides' gain-1 movements are of similar size, so gains alone set the asymmetry."""
    for movement in MOVEMENTS:
        left = side_truth(face, movement, FIELDS[movement](face, "left"), "left")
        right = side_truth(face, movement, FIELDS[movement](face, "right"), "right")
        assert right["excursion_mm"] / left["excursion_mm"] == pytest.approx(1.0, abs=0.06)


@pytest.fixture(scope="module")
def coded(face):
    """The face whose photo pixels hold their own (x, y) coordinates, placed in a 320 px frame:
    rendering it shows, at every output pixel, which photo point it came from."""
    spec = PhantomSpec(size=(320, 320))
    placement = _placement(face, spec)
    anchors = _anchors(face, spec, geometry.invert_affine(placement))
    h, w = face.rgb.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return spec, placement, anchors, replace(face, rgb=np.dstack([xs, ys, np.zeros_like(xs)]))


def test_render_puts_moved_vertices_where_the_truth_says(face, coded):
    """The pixel where the truth says a moved vertex lands must have come from that vertex."""
    spec, placement, anchors, coded = coded
    for movement in MOVEMENTS:
        displacement = FIELDS[movement](face, "left")
        out = render_frame(coded, displacement, placement, spec, anchors)
        for vertex in (291, 334, 386):
            landed = geometry.apply_affine(placement, (face.points + displacement)[[vertex]])[0]
            # Read the rendered coordinates at exactly where the vertex landed.
            source = [map_coordinates(out[..., c], [[landed[1]], [landed[0]]], order=1)[0]
                      for c in (0, 1)]
            assert np.abs(source - face.points[vertex]).max() <= 0.25, (movement, vertex)


def test_closing_lid_covers_a_still_eye(face, coded):
    """Eye closure: the upper lid lands where the truth says, the lower lid does not move."""
    spec, placement, anchors, coded = coded
    closure = 0.5 * FIELDS["eye_closure"](face, "left")
    sheet = render_frame(coded, closure, placement, spec, anchors)
    still = render_frame(coded, np.zeros_like(closure), placement, spec, anchors)
    mask = uncovered_eye_mask(face, face.points, face.points + closure, placement, spec.size)
    out = mask[..., None] * still + (1 - mask[..., None]) * sheet

    def shows(photo_point, moved_by):
        landed = geometry.apply_affine(placement, (photo_point + moved_by)[None])[0]
        return np.array([map_coordinates(out[..., c], [[landed[1]], [landed[0]]], order=1)[0]
                         for c in (0, 1)])

    # One photo pixel off each margin, clear of the mask's anti-aliased edge: the lid above
    # has moved with the upper lid vertex; the lower lid below has not moved at all.
    on_lid = face.points[386] + face.up
    assert np.abs(shows(on_lid, closure[386]) - on_lid).max() <= 0.25
    below = face.points[374] - face.up
    assert np.abs(shows(below, 0) - below).max() <= 0.25


def test_schedule_orders_and_repeats():
    spec = PhantomSpec(order=("smile", "brow_raise"), repetitions=2)
    performances, duration = schedule(spec)
    assert [p.movement for p in performances] == ["smile", "brow_raise"] * 2
    assert [p.rep for p in performances] == [1, 1, 2, 2]
    starts = [p.start_s for p in performances]
    assert starts == sorted(starts) and duration > performances[-1].end_s
    p = performances[0]
    assert p.envelope(p.start_s) == 0 and p.envelope(p.peak_s) == 1 and p.envelope(p.end_s) == 0
