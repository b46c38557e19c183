"""3D Shapes factor grid, ray caster, procedural source and reader of the official h5 (paper-facts section 5).

The geometry checks derive their expectations by hand from the documented scene (``SceneGeometry``:
camera orbiting the origin at distance 5 and height 2.4, one directional light, Lambert + ambient).
"""

import colorsys
import math

import h5py
import numpy as np
import pytest
import torch

from mmphase_bench.data.shapes3d import (
    DEFAULT_SCENE,
    FACTOR_NAMES,
    FACTOR_SIZES,
    INDEX_BASES,
    N_IMAGES,
    Cameras,
    OfficialShapes3D,
    ProceduralShapes3D,
    classes_to_index,
    classes_to_values,
    hue_to_rgb,
    index_to_classes,
    intersect_object,
    render_scenes,
    shapes3d_source,
)

# Independent statement of the official grid (paper-facts section 5).
OFFICIAL_SIZES = [10, 10, 10, 8, 4, 15]
OFFICIAL_BASES = [48000, 4800, 480, 60, 15, 1]
GRID = [
    np.linspace(0.0, 0.9, 10),
    np.linspace(0.0, 0.9, 10),
    np.linspace(0.0, 0.9, 10),
    np.linspace(0.75, 1.25, 8),
    np.array([0.0, 1.0, 2.0, 3.0]),
    np.linspace(-30.0, 30.0, 15),
]
CUBE, CYLINDER, SPHERE, CAPSULE = 0, 1, 2, 3

# The documented scene (SceneGeometry defaults), restated for hand-derived expectations.
OBJECT_SIZE, CAPSULE_HEIGHT, CAPSULE_DIAMETER = 1.3, 1.7, 0.9
LIGHT = np.array([-0.45, 1.0, 0.55]) / np.linalg.norm([-0.45, 1.0, 0.55])
AMBIENT, SATURATION = 0.45, 0.85


def hsv(hue, saturation=SATURATION):
    return np.array(colorsys.hsv_to_rgb(hue, saturation, 1.0))


def render(shapes, *, scale=1.25, orientation=0.0, position=(0.0, 0.0), hues=(0.0, 0.0, 0.0), yaw=0.0):
    """Render a small batch with the orbit camera; scalars are broadcast over the batch."""
    batch = len(shapes)

    def full(value):
        return torch.full((batch,), float(value), dtype=torch.float64)

    cameras = Cameras.orbit(full(orientation), DEFAULT_SCENE)
    return render_scenes(
        cameras, shape=torch.tensor(shapes, dtype=torch.long), scale=full(scale),
        object_position=torch.tensor(position, dtype=torch.float64).expand(batch, 2).clone(), object_yaw=full(yaw),
        floor_hue=full(hues[0]), wall_hue=full(hues[1]), object_hue=full(hues[2]),
    )


def silhouette(shapes, **kwargs):
    """Object pixels (B, H, W) bool: the pixels that change when only the object's hue changes."""
    a = render(shapes, hues=(0.0, 0.0, 0.0), **kwargs)
    b = render(shapes, hues=(0.0, 0.0, 0.5), **kwargs)
    return ((a - b).abs().amax(dim=1) > 1e-6).numpy()


def chroma(image):
    """Per-pixel colour divided by its largest channel (C, H, W): the albedo, whatever the shading."""
    image = np.asarray(image, dtype=np.float64)
    return image / np.maximum(image.max(axis=0, keepdims=True), 1e-12)


def has_colour(image, rgb, atol=1e-4):
    return np.all(np.abs(chroma(image) - np.asarray(rgb)[:, None, None]) < atol, axis=0)


# --------------------------------------------------------------------------- factor grid
def test_grid_sizes_and_index_bases_are_the_official_ones():
    assert list(FACTOR_SIZES) == OFFICIAL_SIZES
    assert INDEX_BASES.tolist() == OFFICIAL_BASES
    assert N_IMAGES == 480000 == int(np.prod(OFFICIAL_SIZES))
    assert FACTOR_NAMES == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")


@pytest.mark.parametrize(
    "index, expected",
    [
        (0, [0, 0, 0, 0, 0, 0]),
        (1, [0, 0, 0, 0, 0, 1]),  # orientation varies fastest
        (14, [0, 0, 0, 0, 0, 14]),
        (15, [0, 0, 0, 0, 1, 0]),  # shape
        (60, [0, 0, 0, 1, 0, 0]),  # scale
        (480, [0, 0, 1, 0, 0, 0]),  # object hue
        (4800, [0, 1, 0, 0, 0, 0]),  # wall hue
        (48000, [1, 0, 0, 0, 0, 0]),  # floor hue
        (479999, [9, 9, 9, 7, 3, 14]),
        (3 * 48000 + 5 * 4800 + 8 * 480 + 7 * 60 + 2 * 15 + 11, [3, 5, 8, 7, 2, 11]),
    ],
)
def test_index_to_classes_known_cells(index, expected):
    assert index_to_classes(np.array([index])).tolist() == [expected]
    assert classes_to_index(np.array([expected])).tolist() == [index]


def test_index_class_round_trip_on_random_indices():
    rng = np.random.default_rng(0)
    index = rng.integers(0, N_IMAGES, size=3000)
    classes = index_to_classes(index)
    assert classes.shape == (3000, 6)
    assert np.all(classes >= 0) and np.all(classes < np.array(OFFICIAL_SIZES))
    assert np.array_equal(sum(classes[:, j] * OFFICIAL_BASES[j] for j in range(6)), index)
    assert np.array_equal(classes_to_index(classes), index)
    random_classes = np.stack([rng.integers(0, s, size=500) for s in OFFICIAL_SIZES], axis=1)
    assert np.array_equal(index_to_classes(classes_to_index(random_classes)), random_classes)
    # every grid index is reached exactly once by the class grid
    every = np.stack(np.meshgrid(*[np.arange(s) for s in OFFICIAL_SIZES], indexing="ij"), axis=-1).reshape(-1, 6)
    assert np.array_equal(classes_to_index(every), np.arange(N_IMAGES))


@pytest.mark.parametrize("bad", [-1, 480000, 10**7])
def test_index_to_classes_rejects_out_of_range(bad):
    with pytest.raises(IndexError):
        index_to_classes(np.array([0, bad]))


def test_classes_to_values_are_the_official_factor_values():
    rng = np.random.default_rng(1)
    classes = np.stack([rng.integers(0, s, size=400) for s in OFFICIAL_SIZES], axis=1)
    values = classes_to_values(classes)
    assert values.dtype == np.float64 and values.shape == (400, 6)
    for j in range(3):
        np.testing.assert_allclose(values[:, j], 0.1 * classes[:, j], atol=1e-12)
    np.testing.assert_allclose(values[:, 3], 0.75 + classes[:, 3] * (0.5 / 7), atol=1e-12)
    np.testing.assert_array_equal(values[:, 4], classes[:, 4].astype(np.float64))
    np.testing.assert_allclose(values[:, 5], -30.0 + classes[:, 5] * (60.0 / 14), atol=1e-12)
    extremes = classes_to_values(np.array([[0, 0, 0, 0, 0, 0], [9, 9, 9, 7, 3, 14], [0, 0, 0, 7, 1, 7]]))
    np.testing.assert_allclose(
        extremes, [[0, 0, 0, 0.75, 0, -30], [0.9, 0.9, 0.9, 1.25, 3, 30], [0, 0, 0, 1.25, 1, 0]], atol=1e-12
    )


# --------------------------------------------------------------------------- colours
@pytest.mark.parametrize("saturation", [0.85, 0.5, 1.0, 0.0])
def test_hue_to_rgb_matches_colorsys(saturation):
    hues = np.array([0.0, 0.05, 0.1, 1 / 6, 0.2, 0.3, 1 / 3, 0.45, 0.5, 0.6, 2 / 3, 0.7, 0.8, 5 / 6, 0.9, 0.99])
    rgb = hue_to_rgb(hues, saturation)
    assert isinstance(rgb, torch.Tensor) and rgb.dtype == torch.float32 and rgb.shape == (len(hues), 3)
    expected = np.stack([colorsys.hsv_to_rgb(h, saturation, 1.0) for h in hues])
    np.testing.assert_allclose(rgb.numpy(), expected, atol=1e-6)


# --------------------------------------------------------------------------- ray caster: images
def test_render_is_float_rgb_in_unit_interval():
    images = render([CUBE, CYLINDER, SPHERE, CAPSULE], hues=(0.3, 0.6, 0.9))
    assert images.dtype == torch.float32 and images.shape == (4, 3, 64, 64)
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    assert float(images.max()) > 0.5  # lit surfaces are bright
    # the four shapes give four different pictures
    assert len({im.numpy().tobytes() for im in images}) == 4


def test_render_size_argument():
    cameras = Cameras.orbit(torch.zeros(2, dtype=torch.float64), DEFAULT_SCENE)
    zeros = torch.zeros(2, dtype=torch.float64)
    images = render_scenes(
        cameras, shape=torch.tensor([0, 2]), scale=torch.ones(2, dtype=torch.float64), object_position=torch.zeros(2, 2),
        object_yaw=zeros, floor_hue=zeros, wall_hue=zeros + 0.5, object_hue=zeros + 0.2, size=32,
    )
    assert images.shape == (2, 3, 32, 32)


@pytest.mark.parametrize("shape", [CUBE, CYLINDER, SPHERE, CAPSULE])
def test_object_area_grows_as_scale_squared(shape):
    areas = [int(silhouette([shape], scale=s).sum()) for s in (0.75, 1.0, 1.25)]
    assert areas[0] > 100  # clearly visible at the smallest scale
    assert areas[0] < areas[1] < areas[2]
    assert 2.2 <= areas[2] / areas[0] <= 3.4  # (1.25 / 0.75)^2 = 2.78


def test_sphere_cylinder_capsule_silhouettes_do_not_depend_on_the_orientation_but_the_cube_does():
    orientations = (-30.0, -15.0, 0.0, 10.0, 30.0)
    areas = {shape: np.array([silhouette([shape], orientation=o).sum() for o in orientations]) for shape in range(4)}
    for shape in (SPHERE, CYLINDER, CAPSULE):  # symmetric about the vertical axis
        assert areas[shape].max() <= 1.03 * areas[shape].min(), (shape, areas[shape])
    # the cube shows a second face when the camera turns: wider silhouette away from 0 degrees
    assert areas[CUBE][0] > 1.05 * areas[CUBE][2] and areas[CUBE][4] > 1.05 * areas[CUBE][2]
    # the cube is bigger than the sphere of the same size (it contains it)
    assert areas[CUBE].min() > areas[SPHERE].max()


@pytest.mark.parametrize("shape", [CUBE, CYLINDER, SPHERE, CAPSULE])
def test_object_is_centred_horizontally_at_orientation_zero(shape):
    mask = silhouette([shape], orientation=0.0)[0]
    rows, cols = np.nonzero(mask)
    assert abs(cols.mean() - 31.5) <= 1.5
    assert rows.max() > 40 and rows.min() > 0  # standing on the floor, below the top of the picture
    # and moves right when the object moves along +x (the camera's right at orientation 0)
    moved = silhouette([shape], orientation=0.0, position=(0.5, 0.0))[0]
    assert np.nonzero(moved)[1].mean() > cols.mean() + 5


@pytest.mark.parametrize("shape", [SPHERE, CYLINDER, CUBE])
@pytest.mark.parametrize("theta", [10.0, 25.0])
def test_silhouette_at_plus_theta_mirrors_minus_theta(shape, theta):
    plus = silhouette([shape], orientation=theta)[0]
    minus = silhouette([shape], orientation=-theta)[0]
    assert plus.sum() > 300
    assert np.count_nonzero(plus != minus[:, ::-1]) <= 4
    # the shading is not mirrored: the light comes from the left (negative x)
    full_plus = render([shape], orientation=theta, hues=(0.0, 0.3, 0.6))[0].numpy()
    full_minus = render([shape], orientation=-theta, hues=(0.0, 0.3, 0.6))[0].numpy()
    assert not np.allclose(full_plus, full_minus[:, :, ::-1], atol=1e-3)


def test_floor_is_below_the_wall_with_the_hand_derived_shading():
    floor_hue, wall_hue, object_hue = 0.0, 0.5, 0.3
    image = render([SPHERE], hues=(floor_hue, wall_hue, object_hue))[0].numpy()
    wall = has_colour(image, hsv(wall_hue))
    floor = has_colour(image, hsv(floor_hue))
    assert wall[:8].all() and not floor[:8].any()  # top rows: the back wall
    assert floor[-8:].all() and not wall[-8:].any()  # bottom rows: the floor
    # every wall row lies above every full floor row
    wall_rows = np.nonzero(wall.all(axis=1))[0]
    floor_rows = np.nonzero(floor.all(axis=1))[0]
    assert wall_rows.max() < floor_rows.min()
    # Lambert shading: floor normal (0, 1, 0), back wall normal (0, 0, 1)
    lit_floor = AMBIENT + (1 - AMBIENT) * LIGHT[1]
    lit_wall = AMBIENT + (1 - AMBIENT) * LIGHT[2]
    np.testing.assert_allclose(image[:, -1, 0], hsv(floor_hue) * lit_floor, atol=1e-5)
    np.testing.assert_allclose(image[:, 0, 0], hsv(wall_hue) * lit_wall, atol=1e-5)


def test_the_object_casts_a_shadow_on_the_floor_and_none_when_far_away():
    hues = (0.0, 0.5, 0.3)
    lit_floor = AMBIENT + (1 - AMBIENT) * LIGHT[1]
    present = render([CUBE], hues=hues)[0].numpy()
    far = render([CUBE], hues=hues, position=(100.0, 100.0))[0].numpy()
    brightness = present.max(axis=0)
    floor = has_colour(present, hsv(0.0))
    shadow = floor & (brightness < lit_floor - 0.1)
    assert shadow.sum() > 30
    np.testing.assert_allclose(brightness[shadow], AMBIENT, atol=1e-5)  # ambient light only
    # the light has a negative x component: the shadow falls on the object's right (+x) side
    object_cols = np.nonzero(has_colour(present, hsv(0.3)))[1]
    assert np.nonzero(shadow)[1].mean() > object_cols.mean() + 3
    # object moved out of view: no object pixels, every floor pixel fully lit
    assert not has_colour(far, hsv(0.3)).any()
    far_floor = has_colour(far, hsv(0.0))
    assert far_floor.sum() > floor.sum()
    np.testing.assert_allclose(far.max(axis=0)[far_floor], lit_floor, atol=1e-5)


# --------------------------------------------------------------------------- ray caster: intersections
def rays(origins, directions, centres, scales, yaws):
    d = torch.tensor(directions, dtype=torch.float64)
    return (
        torch.tensor(origins, dtype=torch.float64), d / d.norm(dim=1, keepdim=True),
        torch.tensor(centres, dtype=torch.float64), torch.tensor(scales, dtype=torch.float64),
        torch.tensor(yaws, dtype=torch.float64),
    )


TOPS = {CUBE: OBJECT_SIZE, CYLINDER: OBJECT_SIZE, SPHERE: OBJECT_SIZE, CAPSULE: CAPSULE_HEIGHT}


@pytest.mark.parametrize("shape", [CUBE, CYLINDER, SPHERE, CAPSULE])
def test_ray_straight_down_hits_the_top_of_the_object(shape):
    centres = [[0.0, 0.0, 0.0], [0.7, 0.0, -0.3], [-1.2, 0.0, 0.4]]
    scales = [1.0, 0.8, 1.25]
    yaws = [0.0, 0.4, -1.1]
    origins = [[c[0], 10.0, c[2]] for c in centres]
    t, normal = intersect_object(shape, *rays(origins, [[0, -1, 0]] * 3, centres, scales, yaws), DEFAULT_SCENE)
    expected = [10.0 - TOPS[shape] * s for s in scales]
    np.testing.assert_allclose(t.numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(normal.numpy(), [[0, 1, 0]] * 3, atol=1e-6)


@pytest.mark.parametrize("shape", [CUBE, CYLINDER, SPHERE, CAPSULE])
def test_rays_that_miss_return_inf(shape):
    origins = [[5.0, 0.5, 10.0], [0.0, 10.0, 0.0], [0.0, 0.5, 10.0], [0.0, 5.0, 10.0]]
    directions = [[0, 0, -1], [0, 1, 0], [0, 0, 1], [0, 0, -1]]  # beside, away (up), away (back), above
    t, _ = intersect_object(shape, *rays(origins, directions, [[0, 0, 0]] * 4, [1.25] * 4, [0.3] * 4), DEFAULT_SCENE)
    assert torch.isinf(t).all()
    # the same rays aimed at the object hit it
    t, _ = intersect_object(shape, *rays([[0.0, 0.5, 10.0]], [[0, 0, -1]], [[0, 0, 0]], [1.25], [0.3]), DEFAULT_SCENE)
    assert torch.isfinite(t).all()


def test_cube_side_hits_and_yaw():
    half = 0.5 * OBJECT_SIZE
    origin, direction = [[0.0, half, 10.0]], [[0, 0, -1]]  # horizontal, through the cube's centre
    t0, n0 = intersect_object(CUBE, *rays(origin, direction, [[0, 0, 0]], [1.0], [0.0]), DEFAULT_SCENE)
    t90, n90 = intersect_object(CUBE, *rays(origin, direction, [[0, 0, 0]], [1.0], [math.pi / 2]), DEFAULT_SCENE)
    t45, n45 = intersect_object(CUBE, *rays(origin, direction, [[0, 0, 0]], [1.0], [math.pi / 4]), DEFAULT_SCENE)
    assert float(t0) == pytest.approx(10.0 - half, abs=1e-6)
    assert float(t90) == pytest.approx(float(t0), abs=1e-6)  # a quarter turn gives the same cube
    np.testing.assert_allclose(n0.numpy(), [[0, 0, 1]], atol=1e-6)
    np.testing.assert_allclose(n90.numpy(), [[0, 0, 1]], atol=1e-6)
    # at 45 degrees the ray meets the vertical edge, half * sqrt(2) from the axis
    assert float(t45) == pytest.approx(10.0 - half * math.sqrt(2), abs=1e-6)
    assert abs(float(n45[0, 0])) == pytest.approx(math.sqrt(0.5), abs=1e-6)
    # the scale applies to the side too
    t_big, _ = intersect_object(CUBE, *rays([[0.0, 0.6, 10.0]], direction, [[0, 0, 0]], [1.25], [0.0]), DEFAULT_SCENE)
    assert float(t_big) == pytest.approx(10.0 - 1.25 * half, abs=1e-6)


@pytest.mark.parametrize("shape, radius, centre_height", [
    (CYLINDER, 0.5 * OBJECT_SIZE, 0.5 * OBJECT_SIZE),
    (SPHERE, 0.5 * OBJECT_SIZE, 0.5 * OBJECT_SIZE),
    (CAPSULE, 0.5 * CAPSULE_DIAMETER, 0.5 * CAPSULE_HEIGHT),
])
def test_round_shapes_side_hits(shape, radius, centre_height):
    scale = 1.1
    origins = [[0.3, centre_height * scale, 10.0], [10.3, centre_height * scale, 0.0]]
    t, normal = intersect_object(
        shape, *rays(origins, [[0, 0, -1], [-1, 0, 0]], [[0.3, 0, 0], [0.3, 0, 0]], [scale] * 2, [0.7] * 2), DEFAULT_SCENE
    )
    np.testing.assert_allclose(t.numpy(), [10.0 - radius * scale] * 2, atol=1e-6)
    np.testing.assert_allclose(normal.numpy(), [[0, 0, 1], [1, 0, 0]], atol=1e-6)


def test_capsule_cap_is_a_hemisphere_and_cylinder_cap_is_flat():
    r = 0.5 * CAPSULE_DIAMETER
    # a vertical ray r/2 off the axis meets the top hemisphere sqrt(r^2 - r^2/4) above its centre
    t, normal = intersect_object(CAPSULE, *rays([[r / 2, 10.0, 0.0]], [[0, -1, 0]], [[0, 0, 0]], [1.0], [0.0]), DEFAULT_SCENE)
    top_centre = CAPSULE_HEIGHT - r
    assert float(t) == pytest.approx(10.0 - (top_centre + math.sqrt(0.75) * r), abs=1e-6)
    np.testing.assert_allclose(normal.numpy(), [[0.5, math.sqrt(0.75), 0.0]], atol=1e-6)
    # the cylinder's cap is flat: same height off the axis
    rc = 0.5 * OBJECT_SIZE
    t, normal = intersect_object(CYLINDER, *rays([[rc / 2, 10.0, 0.0]], [[0, -1, 0]], [[0, 0, 0]], [1.0], [0.0]), DEFAULT_SCENE)
    assert float(t) == pytest.approx(10.0 - OBJECT_SIZE, abs=1e-6)
    np.testing.assert_allclose(normal.numpy(), [[0, 1, 0]], atol=1e-6)


# --------------------------------------------------------------------------- procedural source
def test_procedural_images_are_uint8_and_batch_equals_one_by_one():
    source = ProceduralShapes3D()
    assert len(source) == N_IMAGES
    rng = np.random.default_rng(3)
    index = rng.integers(0, N_IMAGES, size=12)
    index[:2] = [0, N_IMAGES - 1]
    batch = source.images(index)
    assert batch.dtype == np.uint8 and batch.shape == (12, 64, 64, 3)
    singles = np.stack([source.images(np.array([i]))[0] for i in index])
    assert np.array_equal(batch, singles)
    assert len({im.tobytes() for im in batch}) == 12
    assert np.array_equal(source.latents_classes(index), index_to_classes(index))
    np.testing.assert_allclose(source.latents_values(index), classes_to_values(index_to_classes(index)), atol=0)


def test_procedural_factor_order_floor_wall_object_hues():
    source = ProceduralShapes3D()
    image = source.images(classes_to_index(np.array([[2, 5, 8, 7, SPHERE, 7]])))[0].transpose(2, 0, 1) / 255.0
    assert has_colour(image, hsv(0.2), atol=0.03)[-1].all()  # bottom row: floor hue 0.2
    assert has_colour(image, hsv(0.5), atol=0.03)[0].all()  # top row: wall hue 0.5
    assert has_colour(image, hsv(0.8), atol=0.03)[40, 31]  # the sphere in the middle: object hue 0.8


def test_procedural_canonical_image_is_the_grid_image():
    source = ProceduralShapes3D()
    for shape in range(4):
        canonical = source.canonical_image(shape)
        assert canonical.shape == (3, 64, 64) and canonical.dtype == np.float32
        stored = source.images(classes_to_index(np.array([[0, 0, 0, 7, shape, 7]])))[0]
        assert np.abs(canonical - stored.transpose(2, 0, 1) / 255.0).max() <= 0.5 / 255 + 1e-6
    assert not np.array_equal(source.canonical_image(0), source.canonical_image(2))


# --------------------------------------------------------------------------- the official file
CANONICAL_CLASSES = np.array([[0, 0, 0, 7, s, 7] for s in range(4)], dtype=np.int64)


def fixture_classes():
    rng = np.random.default_rng(11)
    canonical = classes_to_index(CANONICAL_CLASSES)
    others = np.setdiff1d(np.unique(rng.integers(0, N_IMAGES, size=40)), canonical)[:26]
    index = np.concatenate([canonical, others])
    rng.shuffle(index)  # the file's row order is not the grid order
    return index_to_classes(index)


FIXTURE_CLASSES = fixture_classes()


def grid_values(classes):
    return np.stack([GRID[j][classes[:, j]] for j in range(6)], axis=1).astype(np.float64)


@pytest.fixture(scope="module")
def fixture_arrays():
    index = classes_to_index(FIXTURE_CLASSES)
    return {"images": ProceduralShapes3D().images(index), "labels": grid_values(FIXTURE_CLASSES)}


def write_h5(path, arrays, **changes):
    arrays = dict(arrays)
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    with h5py.File(path, "w") as handle:
        for key, value in arrays.items():
            handle.create_dataset(key, data=value)
    return path


@pytest.fixture(scope="module")
def official_path(tmp_path_factory, fixture_arrays):
    return write_h5(tmp_path_factory.mktemp("shapes3d") / "3dshapes.h5", fixture_arrays)


def test_fixture_holds_30_cells_with_the_canonical_ones():
    index = classes_to_index(FIXTURE_CLASSES)
    assert len(index) == 30 and len(np.unique(index)) == 30
    assert set(classes_to_index(CANONICAL_CLASSES)) <= set(index)


def test_official_reader_returns_stored_images_and_latents(official_path, fixture_arrays):
    reader = OfficialShapes3D(official_path)
    assert reader.n_available == 30 and len(reader) == N_IMAGES
    index = classes_to_index(FIXTURE_CLASSES)
    order = np.array([17, 3, 29, 0, 3, 12, 29, 8, 8, 21])  # permuted, with duplicates
    images = reader.images(index[order])
    assert images.dtype == np.uint8 and images.shape == (10, 64, 64, 3)
    assert np.array_equal(images, fixture_arrays["images"][order])
    values = reader.latents_values(index[order])
    assert values.dtype == np.float64
    np.testing.assert_array_equal(values, fixture_arrays["labels"][order])
    assert np.array_equal(reader.latents_classes(index[order]), FIXTURE_CLASSES[order])
    # a scalar index works too
    assert np.array_equal(reader.images(int(index[5]))[0], fixture_arrays["images"][5])
    assert "images=30" in repr(reader)


def test_official_reader_absent_index_is_a_key_error(official_path):
    reader = OfficialShapes3D(official_path)
    present = classes_to_index(FIXTURE_CLASSES)
    absent = int(np.setdiff1d(np.arange(100), present)[0])
    with pytest.raises(KeyError):
        reader.images(np.array([absent]))
    with pytest.raises(KeyError):
        reader.latents_values(np.array([present[0], absent]))
    with pytest.raises(IndexError):
        reader.images(np.array([N_IMAGES]))


def test_official_canonical_image_is_the_stored_cell(official_path, fixture_arrays):
    reader = OfficialShapes3D(official_path)
    procedural = ProceduralShapes3D()
    rows = {int(classes_to_index(c[None])[0]): r for r, c in enumerate(FIXTURE_CLASSES)}
    for shape in range(4):
        canonical = reader.canonical_image(shape)
        assert canonical.shape == (3, 64, 64) and canonical.dtype == np.float32
        stored = fixture_arrays["images"][rows[int(classes_to_index(CANONICAL_CLASSES[shape][None])[0])]]
        np.testing.assert_array_equal(canonical, stored.transpose(2, 0, 1).astype(np.float32) / 255.0)
        assert np.abs(canonical - procedural.canonical_image(shape)).max() <= 0.5 / 255 + 1e-6


def _bad(name, arrays):
    labels = arrays["labels"]
    if name == "missing images":
        return {"images": None}, "images"
    if name == "missing labels":
        return {"labels": None}, "labels"
    if name == "float images":
        return {"images": arrays["images"].astype(np.float32) / 255}, "uint8"
    if name == "grey images":
        return {"images": arrays["images"][..., :1].copy()}, "images"
    if name == "small images":
        return {"images": arrays["images"][:, :32, :32].copy()}, "images"
    if name == "float32 labels":
        return {"labels": labels.astype(np.float32)}, "labels"
    if name == "label rows":
        return {"labels": labels[:29]}, "labels"
    if name == "label columns":
        return {"labels": labels[:, :5].copy()}, "labels"
    if name == "scale off grid":
        changed = labels.copy()
        changed[4, 3] = 0.8
        return {"labels": changed}, "scale"
    if name == "orientation in radians":
        changed = labels.copy()
        changed[:, 5] = np.deg2rad(changed[:, 5])
        return {"labels": changed}, "orientation"
    if name == "repeated cell":
        changed = labels.copy()
        changed[7] = changed[2]
        return {"labels": changed}, "repeat"
    raise AssertionError(name)


@pytest.mark.parametrize("case", [
    "missing images", "missing labels", "float images", "grey images", "small images", "float32 labels",
    "label rows", "label columns", "scale off grid", "orientation in radians", "repeated cell",
])
def test_official_reader_rejects_malformed_files(tmp_path, fixture_arrays, case):
    changes, needle = _bad(case, fixture_arrays)
    path = write_h5(tmp_path / "3dshapes.h5", fixture_arrays, **changes)
    with pytest.raises(ValueError, match=needle):
        OfficialShapes3D(path)


def test_official_reader_rejects_a_group_in_place_of_a_dataset(tmp_path, fixture_arrays):
    path = tmp_path / "3dshapes.h5"
    with h5py.File(path, "w") as handle:
        handle.create_group("images")
        handle.create_dataset("labels", data=fixture_arrays["labels"])
    with pytest.raises(ValueError, match="images"):
        OfficialShapes3D(path)


def test_official_reader_rejects_nan_labels(tmp_path, fixture_arrays):
    labels = fixture_arrays["labels"].copy()
    labels[5, 5] = np.nan
    path = write_h5(tmp_path / "3dshapes.h5", fixture_arrays, labels=labels)
    with pytest.raises(ValueError, match="orientation"):
        OfficialShapes3D(path)


def test_missing_official_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        OfficialShapes3D(tmp_path / "absent.h5")
    with pytest.raises(FileNotFoundError):
        shapes3d_source(tmp_path / "absent.h5")


def test_official_reader_rejects_a_non_hdf5_file(tmp_path):
    path = tmp_path / "3dshapes.h5"
    path.write_text("not an HDF5 file\n")
    with pytest.raises(ValueError, match="3dshapes.h5"):
        OfficialShapes3D(path)


def test_shapes3d_source_dispatch(official_path, tmp_path, fixture_arrays):
    assert isinstance(shapes3d_source("procedural"), ProceduralShapes3D)
    assert isinstance(shapes3d_source(official_path), OfficialShapes3D)
    assert isinstance(shapes3d_source(str(official_path)), OfficialShapes3D)
    other = write_h5(tmp_path / "copy.HDF5", fixture_arrays)
    assert isinstance(shapes3d_source(other), OfficialShapes3D)
    for bad in ("x.npz", "Procedural", "notes.txt"):
        with pytest.raises(ValueError, match="procedural"):
            shapes3d_source(bad)
