"""Random shifts: each image moves by whole pixels, content preserved, caller's data untouched."""

import numpy as np
import pytest

from digitnet.data.augment import check_augment, random_shift


def test_each_image_is_its_original_moved_by_at_most_two_pixels():
    rng = np.random.default_rng(0)
    images = np.zeros((200, 28, 28), dtype=np.float32)
    images[:, 10:18, 12:16] = rng.random((200, 8, 4), dtype=np.float32) + 0.1  # away from edges
    x = images.reshape(200, 784)
    before = x.copy()
    shifted = random_shift(x, np.random.default_rng(1)).reshape(200, 28, 28)
    assert np.array_equal(x, before)
    seen = set()
    for original, moved in zip(images, shifted):
        matches = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if np.array_equal(np.roll(original, (dy, dx), axis=(0, 1)), moved)
        ]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) == 25  # every shift in [-2, 2]² is used


def test_content_pushed_over_the_edge_is_cut_not_wrapped():
    image = np.zeros((1, 28, 28), dtype=np.float32)
    image[0, :, 27] = 1.0  # a line on the right edge
    for seed in range(30):
        moved = random_shift(image.reshape(1, 784), np.random.default_rng(seed)).reshape(28, 28)
        assert moved[:, :2].sum() == 0  # never wraps around to the left edge
        assert moved.sum() <= 28.0  # nothing is added, only moved or cut


def test_same_generator_state_same_shifts():
    x = np.random.default_rng(2).random((50, 784), dtype=np.float32)
    assert np.array_equal(random_shift(x, np.random.default_rng(5)), random_shift(x, np.random.default_rng(5)))


def test_unknown_augmentation_lists_the_valid_ones():
    assert check_augment(None) is None
    with pytest.raises(ValueError, match="unknown augmentation 'rotate'; expected one of shift"):
        check_augment("rotate")
