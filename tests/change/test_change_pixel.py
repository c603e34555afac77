"""Pixel change: planted change found, identical scenes quiet, nodata never reported."""

from __future__ import annotations

import numpy as np
import pytest

from sitewatch.change.pixel import clean_mask, detect_change, normalise

SHAPE = (400, 400)


@pytest.fixture
def pair(texture, noisy):  # type: ignore[no-untyped-def]
    base = texture(SHAPE, seed=7)
    # Same ground, other sensor: different gain/offset and independent noise.
    return noisy(base, 3, seed=1), noisy(base, 3, seed=2, gain=0.85, offset=20)


def test_quiet_on_identical_scenes_with_noise(pair) -> None:  # type: ignore[no-untyped-def]
    before, after = pair
    change = detect_change(before, after, np.ones(SHAPE, bool))
    assert change.mask.sum() == 0
    # The test is calibrated: about alpha of the pixels exceed the threshold before cleaning.
    raw = np.nanmean(change.statistic > change.threshold)
    assert 0.2 * change.alpha < raw < 5 * change.alpha


def test_finds_planted_change(pair) -> None:  # type: ignore[no-untyped-def]
    before, after = pair
    after = after.copy()
    after[50:80, 60:120] = (240, 235, 230)  # new bright roof
    after[300:310, 200:230] = (25, 25, 25)  # dark vehicle-sized patch
    truth = np.zeros(SHAPE, bool)
    truth[50:80, 60:120] = truth[300:310, 200:230] = True
    change = detect_change(before, after, np.ones(SHAPE, bool))
    iou = (change.mask & truth).sum() / (change.mask | truth).sum()
    assert iou > 0.9
    assert change.changed_fraction == pytest.approx(truth.mean(), rel=0.15)


def test_invalid_pixels_never_change(pair) -> None:  # type: ignore[no-untyped-def]
    before, after = pair
    after = after.copy()
    after[:, :100] = 255  # cloud on the after date
    valid = np.ones(SHAPE, bool)
    valid[:, :100] = False
    change = detect_change(before, after, valid)
    assert not change.mask[:, :100].any() and change.mask.sum() == 0
    assert np.isnan(change.statistic[:, :100]).all()


def test_normalise_matches_histograms_on_valid_pixels(texture, noisy) -> None:  # type: ignore[no-untyped-def]
    base = texture(SHAPE, seed=7)
    before, after = noisy(base, 3, seed=1), noisy(base, 3, seed=2, gain=0.6, offset=70)
    valid = np.ones(SHAPE, bool)
    valid[:50] = False
    after[:50] = 0  # nodata must not enter the match
    out = normalise(before, after, valid)
    assert abs(float(after[valid].mean()) - float(before[valid].mean())) > 10.0
    assert abs(float(out[valid].mean()) - float(before[valid].mean())) < 1.0
    assert abs(float(out[valid].std()) - float(before[valid].std())) < 1.0
    assert (out[:50] == 0).all()


def test_clean_mask_drops_speckle_keeps_blobs() -> None:
    mask = np.zeros((50, 50), bool)
    mask[5, 5] = mask[10, 20] = True  # speckle
    mask[30:40, 30:40] = True
    mask[2:4, 40:48] = True  # 2 px thin line: removed by the opening
    out = clean_mask(mask, min_area_px=20)
    assert out.sum() == 100 and out[30:40, 30:40].all()


def test_too_few_valid_pixels_is_an_error(pair) -> None:  # type: ignore[no-untyped-def]
    before, after = pair
    valid = np.zeros(SHAPE, bool)
    valid[0, :50] = True
    with pytest.raises(ValueError, match="too few"):
        detect_change(before, after, valid)
