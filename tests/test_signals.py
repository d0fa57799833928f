"""The signal maths that stands in for a heavy import, against the library it stands in for."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from facescore.signals import running_median, savgol_quadratic, smooth
from facescore.uncertainty import median_interval


@pytest.mark.parametrize("frames", [3, 5, 9, 31])
def test_savgol_quadratic_equals_scipys(frames):
    from scipy.signal import savgol_filter

    rng = np.random.default_rng(frames)
    for n in (frames, frames + 1, 4 * frames, 301):
        values = np.cumsum(rng.normal(size=n)) + 50.0
        ours, theirs = savgol_quadratic(values, frames), savgol_filter(values, frames, 2)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-11 * np.abs(values).max())


@pytest.mark.parametrize("frames", [1, 3, 31, 151, 901])
def test_running_median_equals_scipys(frames):
    from scipy.ndimage import median_filter

    rng = np.random.default_rng(frames)
    for n in (1, 2, frames // 2 + 1, frames, 1800):
        window = min(frames, 2 * n - 1)  # as the callers bound it
        for values in (rng.normal(size=n).round(2),  # ties
                       rng.normal(size=(n, 3)) * 1e6 + 1e9):
            theirs = median_filter(values, size=(window,) + (1,) * (values.ndim - 1),
                                   mode="nearest")
            np.testing.assert_array_equal(running_median(values, window), theirs)


def test_smoothing_keeps_a_quadratic_and_does_not_cross_a_gap():
    t = np.arange(60) / 30.0
    values = 3.0 * t**2 - t + 2.0
    np.testing.assert_allclose(smooth(values, np.zeros(60), t, 0.3), values, atol=1e-9)
    stepped = np.r_[np.zeros(30), np.ones(30)]
    groups = np.r_[np.zeros(30), np.ones(30)]
    np.testing.assert_allclose(smooth(stepped, groups, t, 0.3), stepped, atol=1e-9)


@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.95, 0.99])
def test_median_interval_equals_scipys(confidence):
    from scipy.stats import quantile_test

    rng = np.random.default_rng(7)
    for n in [*range(1, 41), 200, 1100]:  # 1100: past where 2**n overflows a float
        values = rng.normal(size=n)
        ci = quantile_test(values, q=0.0, p=0.5).confidence_interval(confidence)
        np.testing.assert_array_equal(median_interval(values, confidence), [ci.low, ci.high])


def test_measuring_and_reporting_load_no_scipy():
    # scipy.signal and scipy.stats cost ~0.5-0.7 s of CPU to import, which the command spent
    # beside its first second of measuring; scipy.ndimage ~0.12 s before its first frame.
    code = ("import sys, numpy as np; import facescore.cli, facescore.analysis, facescore.report; "
            "from facescore.report.writer import prepare; prepare(); "
            "from facescore.segments import less_complete_eye; "
            "less_complete_eye(np.linspace(-0.1, 0.2, 9)); "
            "from facescore.signals import smooth; t = np.arange(40) / 30; "
            "smooth(t, np.zeros(40), t, 0.3); "
            "from facescore.segments import resting_level; resting_level(t, t); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"
