"""Co-registration: sub-pixel shifts recovered, unrelated images flagged, borders invalidated."""

from __future__ import annotations

import numpy as np
import pytest

from sitewatch.change.align import apply_shift, estimate_shift


@pytest.mark.parametrize("shift", [(0.3, -1.7), (2.45, 0.8), (-5.2, 7.9), (0.0, 0.0)])
def test_recovers_known_subpixel_shift(texture, noisy, shifted, shift: tuple[float, float]) -> None:  # type: ignore[no-untyped-def]
    base = texture((512, 512), seed=4)
    moved = shifted(base, shift)
    ref, mov = noisy(base, 2, seed=1), noisy(moved, 2, seed=2, gain=1.2, offset=-15)
    a = estimate_shift(ref, mov, np.ones((512, 512), bool))
    # The shift to apply is the opposite of the one that was applied.
    assert a.reliable, a.reason
    assert abs(a.shift[0] + shift[0]) < 0.1 and abs(a.shift[1] + shift[1]) < 0.1
    assert a.residual_px < 0.1 and a.ncc > 0.9 and a.inliers == a.tiles >= 2


def test_alignment_ignores_invalid_tiles(texture, noisy, shifted) -> None:  # type: ignore[no-untyped-def]
    base = texture((512, 512), seed=5)
    moved = shifted(base, (1.25, -0.5))
    valid = np.ones((512, 512), bool)
    valid[:, 256:] = False  # cloud over the right half: only left tiles count
    mov = noisy(moved, 2, seed=2)
    mov[:, 256:] = 255
    a = estimate_shift(noisy(base, 2, seed=1), mov, valid)
    assert a.reliable and abs(a.shift[0] + 1.25) < 0.1 and abs(a.shift[1] - 0.5) < 0.1


def test_unrelated_images_are_flagged(texture) -> None:  # type: ignore[no-untyped-def]
    a = estimate_shift(texture((512, 512), seed=1), texture((512, 512), seed=2), np.ones((512, 512), bool))
    assert not a.reliable and a.reason


def test_no_clear_tile_is_flagged(texture) -> None:  # type: ignore[no-untyped-def]
    img = texture((300, 300), seed=1)
    valid = np.zeros((300, 300), bool)
    valid[::2] = True  # striped: no tile is clear enough
    a = estimate_shift(img, img, valid)
    assert not a.reliable and a.tiles == 0 and "no tile" in a.reason


def test_apply_shift_moves_content_and_invalidates_border(texture) -> None:  # type: ignore[no-untyped-def]
    img = texture((100, 120), seed=3)
    out, valid = apply_shift(img, np.ones((100, 120), bool), (3.0, -5.0))
    assert np.array_equal(out[10:50, 10:50], img[7:47, 15:55])
    assert not valid[:3].any() and not valid[:, -5:].any() and valid[3:, :-5].all()


def test_broken_cloud_uses_smaller_clear_tiles(texture, noisy, shifted) -> None:  # type: ignore[no-untyped-def]
    base = texture((512, 512), seed=6)
    mov = noisy(shifted(base, (-0.8, 1.6)), 2, seed=2)
    rows, cols = np.indices((512, 512))
    valid = (rows // 160 + cols // 160) % 2 == 0  # checkerboard of cloud: no clear 256 px tile
    mov[~valid] = 255
    a = estimate_shift(noisy(base, 2, seed=1), mov, valid)
    assert a.reliable and abs(a.shift[0] - 0.8) < 0.1 and abs(a.shift[1] + 1.6) < 0.1
