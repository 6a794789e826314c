"""Batch transforms: each test checks values a wrong implementation would get wrong."""

import numpy as np
import pytest
from PIL import Image

from pycnn.data import transforms as T


def ramp_batch(n=2, c=3, h=5, w=6):
    """(n, c, h, w) float32 where every pixel holds a distinct value: its flat index."""
    return np.arange(n * c * h * w, dtype=np.float32).reshape(n, c, h, w)


def random_batch(shape, seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


# ---- flips and crops ----

def test_horizontal_flip_reverses_columns():
    x = ramp_batch()
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(x, np.random.default_rng(0)), x[..., ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(x, np.random.default_rng(0)), x)
    np.testing.assert_array_equal(T.hflip(x)[0, 0, 2], x[0, 0, 2, ::-1])


def test_horizontal_flip_picks_images_from_the_rng():
    x = ramp_batch(n=16)
    flipped = T.RandomHorizontalFlip(p=0.5)(x, np.random.default_rng(7))
    expected = np.random.default_rng(7).random(16) < 0.5
    assert 0 < expected.sum() < 16
    for n in range(16):
        np.testing.assert_array_equal(flipped[n], x[n, :, :, ::-1] if expected[n] else x[n])


def test_crop_lands_at_the_given_offsets():
    x = ramp_batch(n=2, c=1, h=5, w=6)
    out = T.crop(x, top=np.array([1, 2]), left=np.array([3, 0]), height=2, width=3)
    assert out.shape == (2, 1, 2, 3)
    np.testing.assert_array_equal(out[0, 0], [[9, 10, 11], [15, 16, 17]])
    np.testing.assert_array_equal(out[1, 0], [[30 + 12, 30 + 13, 30 + 14], [30 + 18, 30 + 19, 30 + 20]])
    with pytest.raises(ValueError, match="does not fit"):
        T.crop(x, 4, 0, 2, 3)


def test_random_crop_uses_documented_draws_and_zero_padding():
    x = ramp_batch(n=8, c=2, h=6, w=6) + 1  # +1 so that padding zeros are distinguishable
    out = T.RandomCrop(4, padding=2)(x, np.random.default_rng(3))
    rng = np.random.default_rng(3)
    tops = rng.integers(0, 6 + 4 - 4 + 1, size=8)
    lefts = rng.integers(0, 6 + 4 - 4 + 1, size=8)
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    assert out.shape == (8, 2, 4, 4)
    for n in range(8):
        np.testing.assert_array_equal(out[n], padded[n, :, tops[n]:tops[n] + 4, lefts[n]:lefts[n] + 4])
    assert len(set(zip(tops, lefts))) > 1  # images get their own offsets
    assert (out == 0).any()  # some window reaches into the padding


def test_random_crop_with_seed_is_reproducible_and_too_large_raises():
    x = random_batch((4, 3, 8, 8))
    np.testing.assert_array_equal(T.RandomCrop(5, seed=1)(x), T.RandomCrop(5, seed=1)(x))
    with pytest.raises(ValueError, match="larger than the padded image"):
        T.RandomCrop(9)(x)


def test_center_crop_rounds_like_torchvision():
    x = ramp_batch(n=1, c=1, h=5, w=6)
    out = T.CenterCrop((3, 3))(x)
    # top = round(2 / 2) = 1, left = round(3 / 2) = 2
    np.testing.assert_array_equal(out[0, 0], x[0, 0, 1:4, 2:5])
    with pytest.raises(ValueError, match="larger than the image"):
        T.CenterCrop(7)(x)


def test_ten_crop_views_in_torchvision_order():
    x = ramp_batch(n=2, c=3, h=5, w=6)
    views = T.TenCrop(3)(x)
    assert views.shape == (10, 2, 3, 3, 3)
    tl, tr, bl, br, centre = (x[..., 0:3, 0:3], x[..., 0:3, 3:6], x[..., 2:5, 0:3], x[..., 2:5, 3:6],
                              x[..., 1:4, 2:5])
    for k, expected in enumerate([tl, tr, bl, br, centre]):
        np.testing.assert_array_equal(views[k], expected)
    # Views 5..9 are the five crops of the mirrored image: its top-left is the mirror of top-right.
    np.testing.assert_array_equal(views[5], tr[..., ::-1])
    np.testing.assert_array_equal(views[6], tl[..., ::-1])
    np.testing.assert_array_equal(views[7], br[..., ::-1])
    np.testing.assert_array_equal(views[8], bl[..., ::-1])
    # The mirrored centre is taken at round(1.5) = 2 of the flipped image: columns 3, 2, 1.
    np.testing.assert_array_equal(views[9], x[..., 1:4, 1:4][..., ::-1])
    assert views[0, 1, 2, 0, 0] == x[1, 2, 0, 0] == 1 * 90 + 2 * 30


# ---- rotation and translation ----

@pytest.mark.parametrize("size", [5, 6])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_rotation_by_quarter_turns_equals_rot90(size, interpolation):
    x = random_batch((3, 2, size, size))
    for k in (1, -1, 2):
        out = T.rotate(x, 90 * k, interpolation)
        np.testing.assert_allclose(out, np.rot90(x, k, axes=(2, 3)), atol=1e-5)
    np.testing.assert_allclose(T.rotate(x, 0, interpolation), x, atol=1e-6)


def test_positive_angle_turns_counter_clockwise():
    x = np.zeros((1, 1, 7, 7), dtype=np.float32)
    x[0, 0, 3, 5] = 1.0  # two pixels right of the centre
    out = T.rotate(x, 90)
    assert out[0, 0, 1, 3] == pytest.approx(1.0)  # now two pixels above the centre
    assert out.sum() == pytest.approx(1.0)


def test_rotation_by_45_keeps_centre_and_fills_corners():
    x = np.ones((1, 1, 9, 9), dtype=np.float32)
    out = T.rotate(x, 45, fill=0.0)
    assert out[0, 0, 4, 4] == pytest.approx(1.0)
    assert out[0, 0, 0, 0] == 0.0  # corners come from outside the image


def test_random_rotation_draws_angles_per_image():
    x = random_batch((4, 1, 6, 6))
    np.testing.assert_allclose(T.RandomRotation((90, 90))(x, np.random.default_rng(0)),
                               np.rot90(x, 1, axes=(2, 3)), atol=1e-5)
    out = T.RandomRotation(30)(x, np.random.default_rng(5))
    angles = np.random.default_rng(5).uniform(-30, 30, size=4)
    np.testing.assert_allclose(out, T.rotate(x, angles), atol=1e-6)


def test_translation_moves_content_right_and_down():
    x = ramp_batch(n=2, c=1, h=4, w=5) + 1
    out = T.translate(x, dx=np.array([2, 0]), dy=np.array([0, -1]))
    np.testing.assert_array_equal(out[0, 0, :, 2:], x[0, 0, :, :3])
    np.testing.assert_array_equal(out[0, 0, :, :2], 0)
    np.testing.assert_array_equal(out[1, 0, :3], x[1, 0, 1:])  # dy = -1 moves up
    np.testing.assert_array_equal(out[1, 0, 3], 0)


def test_random_translation_uses_documented_draws():
    x = random_batch((6, 3, 8, 8))
    out = T.RandomTranslation(2, 3)(x, np.random.default_rng(9))
    rng = np.random.default_rng(9)
    dx = rng.integers(-2, 3, size=6)
    dy = rng.integers(-3, 4, size=6)
    np.testing.assert_array_equal(out, T.translate(x, dx, dy))


# ---- resize ----

@pytest.mark.parametrize("size", [(3, 4), (12, 20), (7, 7)])
@pytest.mark.parametrize("antialias", [True, False])
def test_resize_keeps_a_constant_image_constant(size, antialias):
    x = np.full((2, 3, 7, 9), 0.3, dtype=np.float32)
    out = T.resize(x, size, antialias)
    assert out.shape == (2, 3) + size
    np.testing.assert_allclose(out, 0.3, atol=1e-6)


def test_resize_keeps_a_linear_ramp_linear():
    ramp = np.tile(np.arange(8, dtype=np.float32), (1, 1, 3, 1))  # value = column index
    # Halving samples at input column 2i + 0.5.
    np.testing.assert_allclose(T.resize(ramp, (3, 4), antialias=False)[0, 0, 1], [0.5, 2.5, 4.5, 6.5])
    # The wider antialias filter is symmetric, so inside the image the ramp is unchanged.
    np.testing.assert_allclose(T.resize(ramp, (3, 4))[0, 0, 1, 1:3], [2.5, 4.5], atol=1e-6)
    # Doubling samples at (j + 0.5) / 2 - 0.5, clamped to the edge pixels at the borders.
    expected = np.clip((np.arange(16) + 0.5) / 2 - 0.5, 0, 7)
    np.testing.assert_allclose(T.resize(ramp, (3, 16))[0, 0, 0], expected, atol=1e-6)


def test_resize_matches_pillow_bilinear():
    image = random_batch((1, 1, 13, 17))
    for size in [(5, 7), (26, 40), (13, 6)]:
        pillow = np.asarray(Image.fromarray(image[0, 0], "F").resize((size[1], size[0]), Image.BILINEAR))
        np.testing.assert_allclose(T.resize(image, size)[0, 0], pillow, atol=1e-5)


def test_resize_int_sets_the_shorter_side():
    assert T.Resize(10)(random_batch((1, 3, 20, 30))).shape == (1, 3, 10, 15)
    assert T.Resize(10)(random_batch((1, 3, 30, 20))).shape == (1, 3, 15, 10)
    assert T.Resize((4, 5))(random_batch((1, 3, 30, 20))).shape == (1, 3, 4, 5)


# ---- colour ----

def test_normalize_math():
    x = np.stack([np.full((2, 2), 0.5), np.full((2, 2), 0.2), np.full((2, 2), 1.0)])[None].astype(np.float32)
    out = T.Normalize(mean=[0.5, 0.4, 0.0], std=[0.5, 0.1, 2.0])(x)
    np.testing.assert_allclose(out[0, :, 0, 0], [0.0, -2.0, 0.5], atol=1e-6)
    with pytest.raises(ValueError, match="3 channels"):
        T.Normalize([0.1, 0.2], [1, 1])(x)
    with pytest.raises(ValueError, match="std != 0"):
        T.Normalize([0.1], [0])


def test_grayscale_weights_and_channels():
    x = np.zeros((1, 3, 2, 2), dtype=np.float32)
    x[0, 0], x[0, 1], x[0, 2] = 1.0, 0.5, 0.25
    expected = 0.2989 + 0.587 * 0.5 + 0.114 * 0.25
    np.testing.assert_allclose(T.Grayscale()(x), np.full((1, 1, 2, 2), expected), rtol=1e-6)
    assert T.Grayscale(3)(x).shape == (1, 3, 2, 2)
    with pytest.raises(ValueError, match="3 \\(RGB\\) channels"):
        T.Grayscale()(x[:, :1])


def test_color_shift_adds_pca_noise_per_image():
    x = random_batch((4, 3, 5, 5))
    np.testing.assert_allclose(T.ColorShift(std=0.0)(x, np.random.default_rng(0)), x)
    out = T.ColorShift(std=0.1)(x, np.random.default_rng(2))
    alpha = np.random.default_rng(2).normal(0.0, 0.1, size=(4, 3))
    shift = (T.IMAGENET_EIGVECS @ (alpha * T.IMAGENET_EIGVALS).T).T  # (4, 3)
    np.testing.assert_allclose(out - x, np.broadcast_to(shift[:, :, None, None], x.shape), atol=1e-6)


def test_rgb_pca_finds_the_main_colour_direction():
    rng = np.random.default_rng(0)
    direction = np.array([0.6, 0.0, 0.8])
    pixels = rng.normal(size=(2, 1, 10, 10)) * direction[None, :, None, None]
    pixels += 0.01 * rng.normal(size=(2, 3, 10, 10))
    eigvals, eigvecs = T.rgb_pca(pixels)
    assert eigvals[0] > 10 * eigvals[1] >= 10 * eigvals[2]
    assert abs(eigvecs[:, 0] @ direction) == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(eigvecs.T @ eigvecs, np.eye(3), atol=1e-5)


def test_color_jitter_extremes():
    x = random_batch((3, 3, 4, 4)) * 0.5
    np.testing.assert_allclose(T.ColorJitter(brightness=(2, 2))(x), np.clip(2 * x, 0, 1), atol=1e-6)
    no_contrast = T.ColorJitter(contrast=(0, 0))(x)
    luma_mean = T.Grayscale()(x).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(no_contrast, np.broadcast_to(luma_mean[:, None, None, None], x.shape), atol=1e-6)
    no_saturation = T.ColorJitter(saturation=(0, 0))(x)
    np.testing.assert_allclose(no_saturation, np.repeat(T.Grayscale()(x), 3, axis=1), atol=1e-6)
    np.testing.assert_array_equal(T.ColorJitter()(x), x)


def test_color_jitter_factors_stay_in_range():
    x = np.full((200, 1, 2, 2), 0.25, dtype=np.float32)
    out = T.ColorJitter(brightness=0.4)(x, np.random.default_rng(0))
    factors = out[:, 0, 0, 0] / 0.25
    assert factors.min() >= 0.6 - 1e-6 and factors.max() <= 1.4 + 1e-6
    assert factors.max() - factors.min() > 0.6  # spread over the range, one factor per image


# ---- composition and input checks ----

def test_compose_passes_one_rng_through():
    x = random_batch((5, 3, 8, 8))
    pipeline = T.Compose([T.RandomCrop(6, padding=1), T.RandomHorizontalFlip(), T.Normalize(0.5, 0.25)])
    a = pipeline(x, np.random.default_rng(11))
    b = pipeline(x, np.random.default_rng(11))
    np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(11)
    manual = T.Normalize(0.5, 0.25)(T.RandomHorizontalFlip()(T.RandomCrop(6, padding=1)(x, rng), rng))
    np.testing.assert_array_equal(a, manual)
    assert a.dtype == np.float32 and a.shape == (5, 3, 6, 6)


def test_transforms_leave_the_input_alone_and_reject_non_batches():
    x = random_batch((2, 3, 6, 6))
    before = x.copy()
    for transform in [T.RandomHorizontalFlip(1.0), T.RandomCrop(4, 1), T.ColorShift(), T.Normalize(0.5, 0.5),
                      T.RandomRotation(20), T.ColorJitter(0.5, 0.5, 0.5), T.Resize(3)]:
        transform(x, np.random.default_rng(0))
    np.testing.assert_array_equal(x, before)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\), got shape \(3, 6, 6\)"):
        T.RandomHorizontalFlip()(x[0])
