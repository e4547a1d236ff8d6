"""Augmentation: each kind does what it says on crafted images, draws only from the generator it
is given (deterministic per seed), never touches the caller's array, and keeps pixels in [0, 1].

The warps are checked through their moments: a shift moves the centre of mass by the shift, a
rotation turns the principal axis by the angle, a shear slants a bar by the shear, a scaling
stretches the second moments. The elastic field is checked against Simard's recipe (smooth,
zero-mean, the spread the Gaussian predicts), the Gaussian against scipy when it is installed.
"""

import numpy as np
import pytest

from digitnet.data import warp
from digitnet.data.augment import (
    AUGMENTATIONS,
    augment,
    change_thickness,
    close_strokes,
    check_augment,
    elastic_field,
    parse_augment,
    random_shift,
    rotation_matrices,
    shear_matrices,
)
from digitnet.data.deskew import slant

SPECS = ["shift", "affine", "elastic", "thickness", "closing", "affine+elastic", "elastic+thickness",
         "shift+affine+elastic+thickness+closing"]


def centre_of_mass(images):
    """(n, 2): (row, col) centre of mass of each (n, 28, 28) image."""
    rows, cols = warp.grid(28, np.float64)
    mass = images.sum(axis=(1, 2))
    return np.stack([(images * rows).sum(axis=(1, 2)) / mass, (images * cols).sum(axis=(1, 2)) / mass], 1)


def axis_angle(image):
    """The principal axis of an image's ink, in degrees counter-clockwise from vertical as seen on
    screen (rows point down)."""
    rows, cols = warp.grid(28, np.float64)
    mass = image.sum()
    r, c = (image * rows).sum() / mass, (image * cols).sum() / mass
    mu_rr = (image * (rows - r) ** 2).sum() / mass
    mu_cc = (image * (cols - c) ** 2).sum() / mass
    mu_rc = (image * (rows - r) * (cols - c)).sum() / mass
    # The axis direction (dr, dc) maximises the spread; on screen (x = c, y = −r) its angle from
    # the upward vertical, counter-clockwise, is atan2(−dc, −dr) for the upward-pointing choice.
    values, vectors = np.linalg.eigh(np.array([[mu_rr, mu_rc], [mu_rc, mu_cc]]))
    dr, dc = vectors[:, 1]
    if dr > 0:
        dr, dc = -dr, -dc
    return np.degrees(np.arctan2(-dc, -dr))


def bar(length=16, width=2, value=1.0):
    """A vertical bar centred in a 28×28 image: (28, 28) float32."""
    image = np.zeros((28, 28), dtype=np.float32)
    top, left = 14 - length // 2, 14 - width // 2
    image[top : top + length, left : left + width] = value
    return image


def digits(n=64, seed=0):
    """Blob-like test images with ink away from the edges: (n, 784) float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), dtype=np.float32)
    images[:, 6:22, 9:19] = rng.random((n, 16, 10), dtype=np.float32)
    return images.reshape(n, 784)


# --------------------------------------------------------------------------- the contract
@pytest.mark.parametrize("spec", SPECS)
def test_same_seed_same_images_other_seed_other_images(spec):
    x = digits()
    first = augment(x, spec, np.random.default_rng(5))
    assert np.array_equal(first, augment(x, spec, np.random.default_rng(5)))
    assert not np.array_equal(first, augment(x, spec, np.random.default_rng(6)))


@pytest.mark.parametrize("spec", SPECS)
def test_the_callers_array_is_untouched_and_the_range_kept(spec):
    x = digits()
    before = x.copy()
    out = augment(x, spec, np.random.default_rng(1))
    assert np.array_equal(x, before)
    assert out is not x and out.shape == x.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not np.array_equal(out, x)


def test_fresh_images_each_call_from_one_generator():
    """The trainer calls augment once per epoch with its generator: every epoch differs."""
    x, rng = digits(), np.random.default_rng(0)
    assert not np.array_equal(augment(x, "elastic", rng), augment(x, "elastic", rng))


def test_no_augmentation_returns_the_array_itself():
    x = digits()
    assert augment(x, None, np.random.default_rng(0)) is x


def test_names_combine_with_plus_and_act_in_a_fixed_order():
    assert parse_augment("thickness+elastic") == ("elastic", "thickness")
    assert parse_augment(None) == ()
    assert check_augment("shift+affine") == "shift+affine"
    assert AUGMENTATIONS == ("marker", "shift", "affine", "elastic", "thickness", "closing")


@pytest.mark.parametrize("spec, match", [
    ("rotate", r"unknown augmentation 'rotate' in 'rotate'; expected names from marker, shift, affine, elastic, thickness, closing joined by '\+'"),
    ("elastic+", r"unknown augmentation '' in 'elastic\+'"),
    ("elastic+elastic", r"augmentation 'elastic\+elastic' names one kind twice"),
    (3, r"augmentation must be a string like 'elastic\+thickness'; got int"),
])
def test_bad_specs_say_what_was_expected(spec, match):
    with pytest.raises(ValueError, match=match):
        check_augment(spec)


# --------------------------------------------------------------------------- shift
def test_shift_moves_the_centre_of_mass_by_the_shift():
    x = digits(8).reshape(8, 28, 28)
    shifts = np.array([[1.5, -0.75], [2, 2], [-2, 1], [0.25, 0], [0, 0], [-1, -1], [0.5, 0.5], [1, -2]])
    rows, cols = warp.affine_source(np.broadcast_to(np.eye(2), (8, 2, 2)), shifts, 28)
    moved = warp.bilinear(x, rows, cols)
    np.testing.assert_allclose(centre_of_mass(moved) - centre_of_mass(x), shifts, atol=1e-4)
    np.testing.assert_allclose(moved.sum(axis=(1, 2)), x.sum(axis=(1, 2)), rtol=1e-5)  # nothing lost


def test_whole_pixel_shifts_through_the_warp_equal_random_shift():
    """Both paths of "shift" (alone: slices; combined: the bilinear warp) agree exactly."""
    x = digits(300)
    expected = random_shift(x, np.random.default_rng(3))
    shifts = np.random.default_rng(3).integers(-2, 3, size=(300, 2)).astype(np.float64)
    rows, cols = warp.affine_source(np.broadcast_to(np.eye(2), (300, 2, 2)), shifts, 28)
    assert np.array_equal(warp.bilinear(x.reshape(300, 28, 28), rows, cols).reshape(300, 784), expected)


def test_shift_in_many_chunks_and_into_a_given_array_is_the_same(monkeypatch):
    """random_shift works chunk by chunk: any chunk size, and writing into `out`, give the same images."""
    from digitnet.data import augment as module

    x = digits(300)
    expected = random_shift(x, np.random.default_rng(3))
    monkeypatch.setattr(module, "SHIFT_CHUNK", 37)  # chunks that do not divide 300
    out = np.full_like(x, np.nan)
    assert random_shift(x, np.random.default_rng(3), out=out) is out
    assert np.array_equal(out, expected)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_the_images_do_not_depend_on_how_many_threads_share_the_chunks(monkeypatch, threads):
    """Chunks are shared out between threads (one per BLAS thread), the noise drawn in chunk order
    by the caller: 1, 2 or 3 threads, on chunks that do not divide the images, give the same images."""
    from digitnet.data import augment as module

    x = digits(300)
    spec = "shift+affine+elastic+thickness+closing"
    monkeypatch.setattr(warp, "CHUNK", 37)  # 9 chunks, the last of 4 images
    monkeypatch.setattr(module, "current_blas_threads", lambda: 1)
    expected = augment(x, spec, np.random.default_rng(5))
    monkeypatch.setattr(module, "current_blas_threads", lambda: threads)
    assert np.array_equal(augment(x, spec, np.random.default_rng(5)), expected)


@pytest.mark.parametrize("spec", ["shift", "affine+elastic+closing"])
def test_augment_into_a_buffer_equals_a_fresh_array(spec):
    x = digits(50)
    fresh = augment(x, spec, np.random.default_rng(4))
    buffer = np.full(fresh.shape, np.nan, fresh.dtype)
    assert augment(x, spec, np.random.default_rng(4), out=buffer) is buffer
    assert np.array_equal(buffer, fresh)
    with pytest.raises(ValueError, match="out must be a C-ordered float32 array of shape"):
        augment(x, spec, np.random.default_rng(4), out=np.empty((49, 784), np.float32))


def test_each_image_is_its_original_moved_by_at_most_two_pixels():
    rng = np.random.default_rng(0)
    images = np.zeros((200, 28, 28), dtype=np.float32)
    images[:, 10:18, 12:16] = rng.random((200, 8, 4), dtype=np.float32) + 0.1  # away from edges
    x = images.reshape(200, 784)
    shifted = random_shift(x, np.random.default_rng(1)).reshape(200, 28, 28)
    seen = set()
    for original, moved in zip(images, shifted):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if np.array_equal(np.roll(original, (dy, dx), axis=(0, 1)), moved)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) == 25  # every shift in [-2, 2]² is used


def test_content_pushed_over_the_edge_is_cut_not_wrapped():
    image = np.zeros((1, 28, 28), dtype=np.float32)
    image[0, :, 27] = 1.0  # a line on the right edge
    for seed in range(30):
        moved = augment(image.reshape(1, 784), "shift", np.random.default_rng(seed)).reshape(28, 28)
        assert moved[:, :2].sum() == 0  # never wraps around to the left edge
        assert moved.sum() <= 28.0  # nothing is added, only moved or cut
        warped = augment(image.reshape(1, 784), "shift+elastic", np.random.default_rng(seed)).reshape(28, 28)
        assert warped[:, :5].sum() == 0  # the warp reads zeros off the picture, never the far side


# --------------------------------------------------------------------------- affine
@pytest.mark.parametrize("degrees", [-20.0, -7.5, 10.0, 25.0])
def test_a_rotation_turns_the_principal_axis_by_its_angle(degrees):
    image = bar(length=18, width=2)[None]
    rows, cols = warp.affine_source(rotation_matrices(np.array([np.radians(degrees)])), np.zeros((1, 2)), 28)
    turned = warp.bilinear(image, rows, cols)[0]
    assert axis_angle(image[0]) == pytest.approx(0.0, abs=1e-6)
    assert axis_angle(turned) == pytest.approx(degrees, abs=1.0)  # counter-clockwise on screen


@pytest.mark.parametrize("s", [-0.4, 0.25])
def test_a_shear_slants_a_vertical_bar_by_the_shear(s):
    image = bar(length=18, width=2)[None]
    rows, cols = warp.affine_source(shear_matrices(np.array([s])), np.zeros((1, 2)), 28)
    sheared = warp.bilinear(image, rows, cols)
    assert slant(sheared)[0] == pytest.approx(s, abs=0.02)  # columns moved right per row down


def test_a_scaling_stretches_the_second_moments():
    image = bar(length=12, width=12)[None]
    matrices = np.diag([1.25, 0.8])[None]  # rows ×1.25, columns ×0.8
    rows, cols = warp.affine_source(matrices, np.zeros((1, 2)), 28)
    scaled = warp.bilinear(image, rows, cols)

    def spread(im):
        r, c = warp.grid(28, np.float64)
        m = im.sum()
        rm, cm = (im * r).sum() / m, (im * c).sum() / m
        return np.sqrt((im * (r - rm) ** 2).sum() / m), np.sqrt((im * (c - cm) ** 2).sum() / m)

    (r0, c0), (r1, c1) = spread(image[0]), spread(scaled[0])
    assert r1 / r0 == pytest.approx(1.25, rel=0.05)
    assert c1 / c0 == pytest.approx(0.8, rel=0.05)


def test_random_affine_turns_bars_by_a_bounded_varied_angle():
    x = np.repeat(bar(length=18, width=2).reshape(1, 784), 300, axis=0)
    angles = np.array([axis_angle(im) for im in augment(x, "affine", np.random.default_rng(0)).reshape(-1, 28, 28)])
    assert np.abs(angles).max() < 12 + 15  # rotation ≤ 12°, shear ≤ 0.2 (≈ 11°)
    assert angles.std() > 4  # the turns really vary
    assert abs(angles.mean()) < 1.5  # and are not biased to one side


# --------------------------------------------------------------------------- elastic
def test_elastic_field_is_simards_smoothed_noise():
    d_rows, d_cols = elastic_field(2000, 28, np.random.default_rng(0), sigma=4.0, alpha=34.0)
    assert d_rows.shape == d_cols.shape == (2000, 28, 28)
    G = warp.gaussian_matrix(28, 4.0)
    # Each component is α Σ_ij G[r,i] G[c,j] U_ij with U ~ U(−1, 1): variance α²/3 · (Σ G[r]²)(Σ G[c]²).
    expected_std = 34.0 * np.sqrt(np.outer((G ** 2).sum(1), (G ** 2).sum(1)) / 3)  # (28, 28)
    for field in (d_rows, d_cols):
        assert abs(field.mean()) < 0.05
        np.testing.assert_allclose(field.std(axis=0), expected_std, rtol=0.08)
        # Smooth: neighbouring pixels move almost together (σ = 4 px).
        neighbours = np.corrcoef(field[:, 14, 13], field[:, 14, 14])[0, 1]
        assert neighbours > 0.9
    assert abs(np.corrcoef(d_rows[:, 14, 14], d_cols[:, 14, 14])[0, 1]) < 0.15  # independent components


def test_gaussian_matrix_matches_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    f = np.random.default_rng(0).random(28)
    G = warp.gaussian_matrix(28, 4.0)
    np.testing.assert_allclose(G @ f, ndimage.gaussian_filter1d(f, 4.0, mode="constant"), atol=1e-6)


def test_elastic_distortion_moves_ink_a_little_and_keeps_most_of_it():
    x = digits(200)
    out = augment(x, "elastic", np.random.default_rng(0))
    moved = np.linalg.norm(centre_of_mass(out.reshape(-1, 28, 28)) - centre_of_mass(x.reshape(-1, 28, 28)), axis=1)
    assert 0.05 < np.median(moved) < 2.0
    ratio = out.sum(1) / x.sum(1)  # local stretching and squeezing change the ink, on average not
    assert 0.9 < np.median(ratio) < 1.1 and 0.4 < ratio.min() and ratio.max() < 1.7


# --------------------------------------------------------------------------- thickness
def test_thickness_blends_towards_dilation_or_erosion():
    line = np.zeros((1, 28, 28), dtype=np.float32)
    line[0, 5:23, 14] = 1.0  # one pixel wide
    thick = change_thickness(line, np.array([1.0]))[0]
    assert np.array_equal(thick[10, 12:17], [0, 1, 1, 1, 0])  # three pixels wide
    half = change_thickness(line, np.array([0.5]))[0]
    assert np.array_equal(half[10, 12:17], [0, 0.5, 1, 0.5, 0])
    assert np.array_equal(change_thickness(line, np.array([0.0])), line)
    wide = np.zeros((1, 28, 28), dtype=np.float32)
    wide[0, 5:23, 13:16] = 1.0  # three pixels wide
    thin = change_thickness(wide, np.array([-1.0]))[0]
    assert np.array_equal(thin[10, 12:17], [0, 0, 1, 0, 0])


def strokes(n=300, seed=0):
    """Pen-like test images: an outlined box, an L and a bar, 2 px strokes, at random places."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), dtype=np.float32)
    for image, (top, left), kind in zip(images, rng.integers(4, 10, (n, 2)), rng.integers(0, 3, n)):
        if kind == 0:
            image[top : top + 14, left : left + 10] = 1.0
            image[top + 2 : top + 12, left + 2 : left + 8] = 0.0
        elif kind == 1:
            image[top : top + 14, left : left + 2] = 1.0
            image[top + 12 : top + 14, left : left + 10] = 1.0
        else:
            image[top : top + 14, left + 4 : left + 6] = 1.0
    return images.reshape(n, 784)


def test_random_thickness_changes_the_ink_both_ways():
    x = strokes()
    out = augment(x, "thickness", np.random.default_rng(0))
    ratio = out.sum(1) / x.sum(1)
    assert ratio.min() < 0.9 and ratio.max() > 1.1
    # The pen changes, the place does not: the centre of mass stays within half a pixel.
    np.testing.assert_allclose(centre_of_mass(out.reshape(-1, 28, 28)), centre_of_mass(x.reshape(-1, 28, 28)), atol=0.5)


def test_closing_fills_a_small_loop_and_keeps_the_pen():
    """A ring 2 px wide around a 4×4 hole (a 9's loop, small) and a bar 2 px wide: two closing
    steps fill the hole, as a marker does; one step leaves its middle open; the bar stays as it was."""
    image = np.zeros((1, 28, 28), np.float32)
    image[0, 4:12, 4:12] = 1.0
    image[0, 6:10, 6:10] = 0.0  # the hole
    image[0, 16:26, 13:15] = 1.0  # the bar
    once, twice = close_strokes(image, np.array([1]))[0], close_strokes(image, np.array([2]))[0]
    assert twice[6:10, 6:10].min() == 1.0 and once[7:9, 7:9].max() == 0.0
    np.testing.assert_array_equal(twice[15:, :], image[0, 15:, :])  # the bar: dilated, eroded back
    np.testing.assert_array_equal(close_strokes(image, np.array([0])), image)  # 0 steps: untouched


def test_random_closing_changes_only_some_images_and_only_adds_ink():
    x = strokes()
    out = augment(x, "closing", np.random.default_rng(0))
    changed = (out != x).any(1)
    assert 0 < changed.sum() < len(x)  # CLOSING_SHARE of the images, not all
    assert (out >= x - 1e-6).all()  # a closing never takes ink away


# --------------------------------------------------------------------------- the sampler
def test_bilinear_reads_whole_pixels_exactly_halves_as_means_and_zero_outside():
    image = np.random.default_rng(0).random((1, 28, 28), dtype=np.float32)
    rows, cols = warp.grid(28)
    assert np.array_equal(warp.bilinear(image, rows[None], cols[None]), image)
    half = warp.bilinear(image, rows[None], cols[None] + 0.5)[0]
    np.testing.assert_allclose(half[:, :27], (image[0, :, :27] + image[0, :, 1:]) / 2, rtol=1e-6)
    np.testing.assert_allclose(half[:, 27], image[0, :, 27] / 2, rtol=1e-6)  # half off the picture
    assert not warp.bilinear(image, rows[None] + 40, cols[None]).any()
    assert not warp.bilinear(image, rows[None], cols[None] - 1e6).any()


def test_affine_matrices_must_be_invertible():
    with pytest.raises(ValueError, match="affine matrices must be invertible"):
        warp.affine_source(np.zeros((1, 2, 2)), np.zeros((1, 2)), 28)


def test_every_epoch_trains_on_new_images_on_every_engine():
    """The trainer writes each epoch's images into one buffer; the compiled engine, which indexes its
    data's nonzero pixels once per array, must see each epoch's new images, as the reference loop does."""
    pytest.importorskip("numba")
    import digitnet as dn

    x = digits(120)
    y = np.arange(120) % 10

    def trained(engine):
        net = dn.Network([784, 16, 10], activation="sigmoid", seed=0)
        config = dn.TrainConfig(sizes=[784, 16, 10], activation="sigmoid", loss="quadratic", optimizer="sgd",
                                learning_rate=0.5, batch_size=10, epochs=3, augment="shift", seed=1, engine=engine)
        trainer = dn.Trainer(net, config, x, y)
        seen = []
        for _ in range(3):
            trainer.run_epoch()
            seen.append(trainer._augmented.copy())
        assert not np.array_equal(seen[0], seen[1]) and not np.array_equal(seen[1], seen[2])
        return net

    reference, compiled = trained("reference"), trained("compiled")
    for a, b in zip(reference.parameters(), compiled.parameters()):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
