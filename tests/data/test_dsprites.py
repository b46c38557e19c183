"""dSprites factor grid, procedural renderer and the reader of the official npz (paper-facts section 5)."""

import math
import os
import pickle

import numpy as np
import pytest
import torch

from mmphase_bench.data.dsprites import (
    FACTOR_SIZES,
    INDEX_BASES,
    N_IMAGES,
    OfficialDSprites,
    ProceduralDSprites,
    classes_to_index,
    classes_to_values,
    dsprites_source,
    index_to_classes,
    render_sprites,
)
from mmphase_bench.data.stereo_dsprites import StereoDSprites

# Independent statement of the official grid (paper-facts section 5).
OFFICIAL_BASES = [737280, 245760, 40960, 1024, 32, 1]
OFFICIAL_SIZES = [1, 3, 6, 40, 32, 32]
GRID = [
    np.array([1.0]),
    np.array([1.0, 2.0, 3.0]),
    np.linspace(0.5, 1.0, 6),
    np.linspace(0.0, 2.0 * np.pi, 40),
    np.linspace(0.0, 1.0, 32),
    np.linspace(0.0, 1.0, 32),
]
MARGIN, SIZE, PX = 0.15, 0.3, 64


def render_one(shape, scale, orientation, x, y):
    return render_sprites([shape], [scale], [orientation], [x], [y])[0].numpy()


def centroid(image):
    rows, cols = np.nonzero(image)
    return cols.mean(), rows.mean()


# --------------------------------------------------------------------------- factor grid
def test_index_bases_and_size_are_the_official_ones():
    assert INDEX_BASES.tolist() == OFFICIAL_BASES
    assert list(FACTOR_SIZES) == OFFICIAL_SIZES
    assert N_IMAGES == 737280 == int(np.prod(OFFICIAL_SIZES))


@pytest.mark.parametrize(
    "index, expected",
    [
        (0, [0, 0, 0, 0, 0, 0]),
        (1, [0, 0, 0, 0, 0, 1]),  # posY varies fastest
        (31, [0, 0, 0, 0, 0, 31]),
        (32, [0, 0, 0, 0, 1, 0]),  # posX
        (1024, [0, 0, 0, 1, 0, 0]),  # orientation
        (40960, [0, 0, 1, 0, 0, 0]),  # scale
        (245760, [0, 1, 0, 0, 0, 0]),  # shape
        (737279, [0, 2, 5, 39, 31, 31]),
        (245760 * 2 + 40960 * 3 + 1024 * 7 + 32 * 5 + 9, [0, 2, 3, 7, 5, 9]),
    ],
)
def test_index_to_classes_known_cells(index, expected):
    assert index_to_classes(np.array([index])).tolist() == [expected]
    assert classes_to_index(np.array([expected])).tolist() == [index]


def test_index_class_round_trip_on_random_indices():
    rng = np.random.default_rng(0)
    index = rng.integers(0, 737280, size=2000)
    classes = index_to_classes(index)
    assert classes.shape == (2000, 6)
    assert np.all(classes >= 0) and np.all(classes < np.array(OFFICIAL_SIZES))
    manual = sum(classes[:, j] * OFFICIAL_BASES[j] for j in range(6))
    assert np.array_equal(manual, index)
    assert np.array_equal(classes_to_index(classes), index)
    # and the other way: random classes -> index -> classes
    random_classes = np.stack([rng.integers(0, s, size=500) for s in OFFICIAL_SIZES], axis=1)
    assert np.array_equal(index_to_classes(classes_to_index(random_classes)), random_classes)


@pytest.mark.parametrize("bad", [-1, 737280, 10**7])
def test_index_to_classes_rejects_out_of_range(bad):
    with pytest.raises(IndexError):
        index_to_classes(np.array([0, bad]))


def test_classes_to_values_are_the_official_factor_values():
    rng = np.random.default_rng(1)
    classes = np.stack([rng.integers(0, s, size=300) for s in OFFICIAL_SIZES], axis=1)
    values = classes_to_values(classes)
    assert values.dtype == np.float64 and values.shape == (300, 6)
    assert np.all(values[:, 0] == 1.0)
    assert np.array_equal(values[:, 1], classes[:, 1] + 1.0)  # shapes stored as 1, 2, 3
    np.testing.assert_allclose(values[:, 2], 0.5 + 0.1 * classes[:, 2], atol=1e-12)
    np.testing.assert_allclose(values[:, 3], 2 * np.pi * classes[:, 3] / 39, atol=1e-12)
    np.testing.assert_allclose(values[:, 4], classes[:, 4] / 31, atol=1e-12)
    np.testing.assert_allclose(values[:, 5], classes[:, 5] / 31, atol=1e-12)
    extremes = classes_to_values(np.array([[0, 2, 5, 39, 31, 31], [0, 0, 0, 0, 0, 0]]))
    np.testing.assert_allclose(extremes, [[1, 3, 1, 2 * np.pi, 1, 1], [1, 1, 0.5, 0, 0, 0]], atol=1e-12)


# --------------------------------------------------------------------------- renderer
def test_render_is_binary_uint8():
    rng = np.random.default_rng(2)
    n = 50
    images = render_sprites(
        rng.integers(0, 3, n), rng.uniform(0.5, 1, n), rng.uniform(0, 2 * np.pi, n), rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    )
    assert isinstance(images, torch.Tensor)
    assert images.dtype == torch.uint8 and images.shape == (n, 64, 64)
    assert set(torch.unique(images).tolist()) == {0, 1}
    assert torch.all(images.sum(dim=(1, 2)) > 10)  # every sprite is visible


def test_render_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        render_sprites([0, 1], [1.0], [0.0, 0.0], [0.5, 0.5], [0.5, 0.5])


@pytest.mark.parametrize("shape", [0, 1, 2])
@pytest.mark.parametrize("x, y", [(0.5, 0.5), (0.2, 0.7), (0.9, 0.1)])
def test_area_grows_as_scale_squared(shape, x, y):
    big = render_one(shape, 1.0, 0.3, x, y).sum()
    small = render_one(shape, 0.5, 0.3, x, y).sum()
    assert 3.2 <= big / small <= 4.8


@pytest.mark.parametrize("scale", [0.5, 0.6, 0.8, 1.0])
@pytest.mark.parametrize("x, y", [(0.5, 0.5), (0.13, 0.77), (0.61, 0.29)])
def test_square_area_matches_geometry(scale, x, y):
    expected = (SIZE * PX * scale) ** 2
    area = render_one(0, scale, 0.0, x, y).sum()
    assert abs(area - expected) <= 0.1 * expected


def test_square_centre_is_where_the_geometry_puts_it():
    for x, y in [(0.0, 0.0), (0.5, 0.25), (1.0, 1.0), (0.3, 0.9)]:
        cx, cy = centroid(render_one(0, 1.0, 0.0, x, y))
        # pixel c has centre (c + 0.5) / 64 in canvas units
        assert abs(cx - ((MARGIN + (1 - 2 * MARGIN) * x) * PX - 0.5)) <= 0.5
        assert abs(cy - ((MARGIN + (1 - 2 * MARGIN) * y) * PX - 0.5)) <= 0.5


@pytest.mark.parametrize("shape", [0, 1, 2])
def test_centroid_moves_right_with_pos_x_and_down_with_pos_y(shape):
    grid = np.linspace(0, 1, 32)
    step = (1 - 2 * MARGIN) * PX / 31  # about 1.445 px per class step
    xs = np.array([centroid(render_one(shape, 0.8, 0.0, grid[k], 0.5)) for k in range(32)])
    ys = np.array([centroid(render_one(shape, 0.8, 0.0, 0.5, grid[k])) for k in range(32)])
    slope_x = np.polyfit(np.arange(32), xs[:, 0], 1)[0]
    slope_y = np.polyfit(np.arange(32), ys[:, 1], 1)[0]
    assert abs(slope_x - step) <= 0.02 * step
    assert abs(slope_y - step) <= 0.02 * step  # positive: rows grow downwards
    # the other coordinate does not move
    assert np.ptp(xs[:, 1]) <= 1.0 and np.ptp(ys[:, 0]) <= 1.0
    # every 4 steps the centroid has clearly moved in the right direction
    assert np.all(np.diff(xs[::4, 0]) > 4 * step - 1.0)
    assert np.all(np.diff(ys[::4, 1]) > 4 * step - 1.0)


def test_orientation_zero_and_two_pi_give_identical_images():
    grid = np.linspace(0, 1, 32)
    for shape in range(3):
        for scale in (0.5, 0.7, 1.0):
            for x, y in [(grid[0], grid[31]), (grid[16], grid[16]), (grid[7], grid[22]), (0.5, 0.5)]:
                a = render_one(shape, scale, 0.0, x, y)
                b = render_one(shape, scale, 2 * np.pi, x, y)
                assert np.array_equal(a, b), (shape, scale, x, y)


def test_square_rotated_by_quarter_turn_is_the_same_square():
    grid = np.linspace(0, 1, 32)
    for scale in (0.5, 0.8, 1.0):
        for x, y in [(0.5, 0.5), (grid[3], grid[20]), (grid[30], grid[11])]:
            plain = render_one(0, scale, 0.0, x, y)
            assert np.array_equal(plain, render_one(0, scale, np.pi / 2, x, y))
    # and a generic rotation is different (the test can fail)
    assert not np.array_equal(render_one(0, 1.0, 0.0, 0.5, 0.5), render_one(0, 1.0, np.pi / 5, 0.5, 0.5))


def test_ellipse_is_wider_than_tall_at_orientation_zero():
    rows, cols = np.nonzero(render_one(1, 1.0, 0.0, 0.5, 0.5))
    width, height = np.ptp(cols) + 1, np.ptp(rows) + 1
    assert width > height
    assert 1.6 <= width / height <= 2.4  # aspect 0.5
    rows, cols = np.nonzero(render_one(1, 1.0, np.pi / 2, 0.5, 0.5))
    assert np.ptp(rows) > np.ptp(cols)  # a quarter turn stands it up


def test_positive_orientation_is_counter_clockwise_on_screen():
    rows, cols = np.nonzero(render_one(1, 1.0, np.pi / 4, 0.5, 0.5))
    # the long axis now points up-right: larger column goes with smaller row (rows grow downwards)
    assert np.corrcoef(cols, rows)[0, 1] < -0.5


def test_heart_is_left_right_symmetric_but_not_top_bottom():
    heart = render_one(2, 1.0, 0.0, 0.5, 0.5)
    assert heart.sum() > 100
    assert np.array_equal(heart, np.fliplr(heart))
    assert not np.array_equal(heart, np.flipud(heart))
    rows, cols = np.nonzero(heart)
    assert abs((np.ptp(cols) + 1) - SIZE * PX) <= 1.0  # fits a box as wide as the square
    top, bottom = rows.min(), rows.max()
    # the point is at the bottom: the lowest lit row is narrower than the highest one
    assert heart[bottom].sum() < heart[top].sum()
    # and the heart is not a square or ellipse
    assert not np.array_equal(heart, render_one(0, 1.0, 0.0, 0.5, 0.5))
    assert not np.array_equal(heart, render_one(1, 1.0, 0.0, 0.5, 0.5))


def test_procedural_batch_equals_items_one_by_one():
    source = ProceduralDSprites()
    rng = np.random.default_rng(3)
    index = rng.integers(0, N_IMAGES, size=40)
    index[:3] = [0, N_IMAGES - 1, 245760 * 2 + 40960 * 5]  # include extreme scales and positions
    batch = source.images(index)
    assert batch.dtype == np.uint8 and batch.shape == (40, 64, 64)
    singles = np.stack([source.images(np.array([i]))[0] for i in index])
    assert np.array_equal(batch, singles)
    # and not all the same image
    assert len({im.tobytes() for im in batch}) > 30


def test_procedural_latents_and_images_follow_the_grid():
    source = ProceduralDSprites()
    assert len(source) == 737280
    index = np.array([1, 32, 245760, 737279])
    assert np.array_equal(source.latents_classes(index), index_to_classes(index))
    values = source.latents_values(index)
    np.testing.assert_allclose(values[:, 4], [0, 1 / 31, 0, 1])
    np.testing.assert_allclose(values[:, 5], [1 / 31, 0, 0, 1])
    # image of a cell = the renderer at that cell's values (shape code = value - 1)
    image = source.images(np.array([245760 * 2 + 40960 * 3 + 1024 * 7 + 32 * 5 + 9]))[0]
    expected = render_one(2, GRID[2][3], GRID[3][7], GRID[4][5], GRID[5][9])
    assert np.array_equal(image, expected)


def test_procedural_canonical_image_is_centred_largest_scale():
    source = ProceduralDSprites()
    for shape in range(3):
        image = source.canonical_image(shape)
        assert image.shape == (64, 64)
        assert np.array_equal(image, render_one(shape, 1.0, 0.0, 0.5, 0.5))
        cx, cy = centroid(image)
        assert abs(cx - 31.5) < 1e-9
    assert abs(centroid(source.canonical_image(0))[1] - 31.5) < 1e-9


# --------------------------------------------------------------------------- the official file
FIXTURE_CLASSES = np.array([
    [0, 0, 5, 0, 16, 16],
    [0, 1, 5, 0, 16, 16],
    [0, 2, 5, 0, 16, 16],
    [0, 1, 2, 10, 3, 29],
    [0, 2, 0, 39, 31, 0],
    [0, 0, 3, 20, 0, 31],
], dtype=np.int64)


def fixture_arrays():
    classes = FIXTURE_CLASSES.copy()
    values = np.stack([GRID[j][classes[:, j]] for j in range(6)], axis=1).astype(np.float64)
    images = np.stack([
        render_one(int(c[1]), GRID[2][c[2]], GRID[3][c[3]], GRID[4][c[4]], GRID[5][c[5]]) for c in classes
    ]).astype(np.uint8)
    return {"imgs": images, "latents_values": values, "latents_classes": classes,
            "metadata": np.array({"a": 1}, dtype=object)}


def write_npz(path, **changes):
    arrays = fixture_arrays()
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    np.savez(path, **arrays)
    return path


@pytest.fixture
def official_path(tmp_path):
    return write_npz(tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz")


def fixture_index(row):
    return int(sum(FIXTURE_CLASSES[row, j] * OFFICIAL_BASES[j] for j in range(6)))


def test_official_reader_never_unpickles(official_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    reader = OfficialDSprites(official_path)
    assert reader.n_available == 6
    reader.images(np.array([fixture_index(0)]))
    reader.canonical_image(2)
    StereoDSprites(n=10, source=official_path).generate(0, 10)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_official_reader_does_not_trigger_a_pickled_payload(tmp_path):
    marker = tmp_path / "payload-ran"
    path = write_npz(tmp_path / "evil.npz", metadata=np.array(_Payload(marker), dtype=object))
    reader = OfficialDSprites(path)
    reader.images(np.array([fixture_index(3)]))
    reader.latents_values(np.array([fixture_index(3)]))
    for shape in range(3):
        reader.canonical_image(shape)
    dsprites_source(path)
    assert not marker.exists()


def test_official_reader_returns_the_stored_images_and_latents(official_path):
    arrays = fixture_arrays()
    reader = OfficialDSprites(official_path)
    assert len(reader) == 737280
    order = [4, 0, 5, 3, 1, 2]
    index = np.array([fixture_index(r) for r in order])
    assert np.array_equal(reader.images(index), arrays["imgs"][order])
    assert np.array_equal(reader.latents_classes(index), FIXTURE_CLASSES[order])
    assert reader.latents_classes(index).dtype == np.int64
    np.testing.assert_array_equal(reader.latents_values(index), arrays["latents_values"][order])
    # a scalar index works too
    assert np.array_equal(reader.images(fixture_index(5))[0], arrays["imgs"][5])


def test_official_reader_absent_index_is_a_key_error(official_path):
    reader = OfficialDSprites(official_path)
    with pytest.raises(KeyError):
        reader.images(np.array([0]))
    with pytest.raises(KeyError):
        reader.latents_values(np.array([fixture_index(0), 1]))
    with pytest.raises(IndexError):
        reader.images(np.array([737280]))


def test_official_canonical_image_is_the_stored_image_moved_to_the_centre(official_path):
    arrays = fixture_arrays()
    reader = OfficialDSprites(official_path)
    for shape in range(3):
        stored = arrays["imgs"][shape]
        canonical = reader.canonical_image(shape)
        assert canonical.sum() == stored.sum()
        cx, cy = centroid(canonical)
        assert abs(cx - 31.5) <= 0.5 and abs(cy - 31.5) <= 0.5
        shifts = [(dr, dc) for dr in range(-5, 6) for dc in range(-5, 6)
                  if np.array_equal(np.roll(stored, (dr, dc), axis=(0, 1)), canonical)]
        assert shifts, "canonical image is not a whole-pixel shift of the stored one"


def test_stereo_dsprites_from_official_file(official_path):
    reader = OfficialDSprites(official_path)
    data = StereoDSprites(n=20, source=official_path)
    expected = np.stack([reader.canonical_image(s) for s in range(3)]).astype(np.float32)
    assert np.array_equal(data.templates[:, 0].numpy(), expected)
    assert data.describe()["source"] == f"official:{official_path.name}"
    assert data.fingerprint != StereoDSprites(n=20).fingerprint


def _bad(name):
    arrays = fixture_arrays()
    if name == "missing key":
        return {"latents_classes": None}, "latents_classes"
    if name == "imgs float":
        return {"imgs": arrays["imgs"].astype(np.float32)}, "imgs"
    if name == "imgs int64":
        return {"imgs": arrays["imgs"].astype(np.int64)}, "imgs"
    if name == "imgs shape":
        return {"imgs": arrays["imgs"][:, :32, :32].copy()}, "imgs"
    if name == "imgs 4d":
        return {"imgs": arrays["imgs"][:, None]}, "imgs"
    if name == "non-binary":
        return {"imgs": arrays["imgs"] * np.uint8(255)}, "binary"
    if name == "values inconsistent":
        values = arrays["latents_values"].copy()
        values[3, 2] += 0.05
        return {"latents_values": values}, "latents_values"
    if name == "values float32":
        return {"latents_values": arrays["latents_values"].astype(np.float32)}, "latents_values"
    if name == "values rows":
        return {"latents_values": arrays["latents_values"][:5]}, "latents_values"
    if name == "classes too large":
        classes = arrays["latents_classes"].copy()
        classes[4, 4] = 32
        return {"latents_classes": classes}, "out of range"
    if name == "classes negative":
        classes = arrays["latents_classes"].copy()
        classes[1, 3] = -1
        return {"latents_classes": classes}, "out of range"
    if name == "classes float":
        return {"latents_classes": arrays["latents_classes"].astype(np.float64)}, "latents_classes"
    if name == "repeated cell":
        classes = arrays["latents_classes"].copy()
        values = arrays["latents_values"].copy()
        classes[5], values[5] = classes[4], values[4]
        return {"latents_classes": classes, "latents_values": values}, "repeat"
    raise AssertionError(name)


@pytest.mark.parametrize("case", [
    "missing key", "imgs float", "imgs int64", "imgs shape", "imgs 4d", "non-binary", "values inconsistent",
    "values float32", "values rows", "classes too large", "classes negative", "classes float", "repeated cell",
])
def test_official_reader_rejects_malformed_files(tmp_path, case):
    changes, needle = _bad(case)
    path = write_npz(tmp_path / "bad.npz", **changes)
    with pytest.raises(ValueError, match=needle):
        OfficialDSprites(path)


def test_official_reader_rejects_non_binary_images_in_any_row(tmp_path):
    source = ProceduralDSprites()
    index = np.arange(2000, dtype=np.int64) * 7  # 2000 grid cells: the probe step is 2
    images = source.images(index)
    images[1, 30, 30] = 255  # row 1 is not probed
    path = tmp_path / "large.npz"
    np.savez(path, imgs=images, latents_values=source.latents_values(index), latents_classes=source.latents_classes(index))
    with pytest.raises(ValueError, match="binary"):
        OfficialDSprites(path)


def test_official_reader_rejects_a_non_npz_file(tmp_path):
    path = tmp_path / "fake.npz"
    path.write_text("not a zip archive\n")
    with pytest.raises(ValueError):
        OfficialDSprites(path)


def test_official_reader_rejects_object_imgs(tmp_path):
    images = np.empty(6, dtype=object)
    path = write_npz(tmp_path / "obj.npz", imgs=images)
    with pytest.raises(ValueError):
        OfficialDSprites(path)


def test_missing_official_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        OfficialDSprites(tmp_path / "absent.npz")
    with pytest.raises(FileNotFoundError):
        dsprites_source(tmp_path / "absent.npz")


def test_dsprites_source_dispatch(official_path):
    assert isinstance(dsprites_source("procedural"), ProceduralDSprites)
    assert isinstance(dsprites_source(official_path), OfficialDSprites)
    assert isinstance(dsprites_source(str(official_path)), OfficialDSprites)
    with pytest.raises(ValueError, match="procedural"):
        dsprites_source("notes.txt")
    with pytest.raises(ValueError):
        dsprites_source("Procedural")  # not the keyword and not an npz path
