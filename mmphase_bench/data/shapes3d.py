"""3D Shapes: the factor grid, a vectorised ray caster of its scene, and a reader of the official file.

The official data set (Burgess and Kim, 2018) holds 480,000 RGB 64 x 64 images of one object in a
room, one per combination of six factors (paper-facts section 5), orientation varying fastest::

    floor_hue (10: 0.0 .. 0.9), wall_hue (10), object_hue (10), scale (8: linspace(0.75, 1.25, 8)),
    shape (4: cube, cylinder, sphere, capsule), orientation (15: linspace(-30, 30, 15) degrees)

It was rendered with MuJoCo and its generator was never published, so :class:`ProceduralShapes3D`
ray-casts the scene from a documented geometry (:class:`SceneGeometry`); :class:`OfficialShapes3D`
reads the real ``3dshapes.h5`` in chunks. Both offer ``images(index)`` and ``latents_values(index)``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mmphase_bench.errors import FileFormatError, InputError

from mmphase_bench.data.exact_ops import cos_sin, cross3, dot3, normalize3

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
SHAPE_NAMES = ("cube", "cylinder", "sphere", "capsule")
N_IMAGES = int(np.prod(FACTOR_SIZES))  # 480,000
IMAGE_SIZE = 64
INDEX_BASES = np.array([int(np.prod(FACTOR_SIZES[i + 1:])) for i in range(len(FACTOR_SIZES))], dtype=np.int64)
FACTOR_VALUES = (
    np.linspace(0.0, 0.9, 10),
    np.linspace(0.0, 0.9, 10),
    np.linspace(0.0, 0.9, 10),
    np.linspace(0.75, 1.25, 8),
    np.arange(4, dtype=np.float64),
    np.linspace(-30.0, 30.0, 15),
)
OFFICIAL_FILENAME = "3dshapes.h5"


def index_to_classes(index) -> np.ndarray:
    index = np.atleast_1d(np.asarray(index, dtype=np.int64))
    if np.any(index < 0) or np.any(index >= N_IMAGES):
        raise IndexError(f"3D Shapes indices must lie in [0, {N_IMAGES}), got {index.min()}..{index.max()}")
    return (index[:, None] // INDEX_BASES[None, :]) % np.array(FACTOR_SIZES)[None, :]


def classes_to_index(classes) -> np.ndarray:
    return np.asarray(classes, dtype=np.int64) @ INDEX_BASES


def classes_to_values(classes) -> np.ndarray:
    classes = np.asarray(classes, dtype=np.int64)
    return np.stack([FACTOR_VALUES[j][classes[:, j]] for j in range(6)], axis=1)


@dataclass(frozen=True)
class SceneGeometry:
    """Our reconstruction of the 3D Shapes scene (world units; y up; the object stands at the origin).

    The room is a floor (y = 0), a back wall (z = -back_wall) and side walls (x = +/- side_wall); the
    camera orbits the object at ``camera_distance`` and ``camera_height``, looking at
    ``(0, look_at_height, 0)``; the orientation factor is the camera's azimuth. At scale 1 the cube's
    side, the cylinder's height and diameter and the sphere's diameter are ``object_size``; the
    capsule is ``capsule_height`` tall with diameter ``capsule_diameter`` (all times the scale). One
    directional light (``light_direction``, pointing towards the light) with Lambertian shading on top
    of ``ambient`` light; room surfaces receive the object's shadow. Colours are HSV hues at
    ``saturation`` and full value.
    """

    back_wall: float = 4.0
    side_wall: float = 4.5
    camera_distance: float = 5.0
    camera_height: float = 2.4
    look_at_height: float = 0.9
    field_of_view: float = 35.0  #: vertical, degrees
    object_size: float = 1.3
    capsule_height: float = 1.7
    capsule_diameter: float = 0.9
    light_direction: tuple[float, float, float] = (-0.45, 1.0, 0.55)
    ambient: float = 0.45
    saturation: float = 0.85


DEFAULT_SCENE = SceneGeometry()


def hue_to_rgb(hue: np.ndarray | torch.Tensor, saturation: float) -> torch.Tensor:
    """HSV (hue, saturation, value 1) to RGB for a batch of hues in [0, 1): (B,) -> (B, 3) float32."""
    hue = torch.as_tensor(hue, dtype=torch.float32)
    k = torch.stack([(5 + hue * 6) % 6, (3 + hue * 6) % 6, (1 + hue * 6) % 6], dim=-1)
    return 1.0 - saturation * torch.clamp(torch.minimum(k, 4 - k), 0.0, 1.0)


@dataclass
class Cameras:
    """A batch of pinhole cameras: positions (B, 3), and orthonormal right/up/forward axes (B, 3)."""

    position: torch.Tensor
    right: torch.Tensor
    up: torch.Tensor
    forward: torch.Tensor

    @classmethod
    def orbit(cls, azimuth_degrees: torch.Tensor, geometry: SceneGeometry, *, target: torch.Tensor | None = None) -> "Cameras":
        """Cameras on the orbit around ``target`` (default: the origin) at the given azimuths."""
        azimuth = torch.deg2rad(azimuth_degrees.double())
        batch = azimuth.shape[0]
        device = azimuth.device
        target = torch.zeros((batch, 3), dtype=torch.float64, device=device) if target is None else target.double()
        cos, sin = cos_sin(azimuth)
        position = torch.stack(
            [target[:, 0] + geometry.camera_distance * sin,
             torch.full_like(azimuth, geometry.camera_height),
             target[:, 2] + geometry.camera_distance * cos], dim=1,
        )
        look_at = target.clone()
        look_at[:, 1] = geometry.look_at_height
        return cls.looking_at(position, look_at)

    @classmethod
    def looking_at(cls, position: torch.Tensor, look_at: torch.Tensor) -> "Cameras":
        forward = normalize3(look_at - position)
        world_up = torch.tensor([0.0, 1.0, 0.0], dtype=forward.dtype, device=forward.device).expand_as(forward)
        right = normalize3(cross3(forward, world_up))
        up = cross3(right, forward)
        return cls(position, right, up, forward)


def _solve_quadratic(a, b, c):
    """Smallest root > eps of a t^2 + b t + c = 0 per element (inf if none)."""
    disc = b * b - 4 * a * c
    sqrt = torch.sqrt(torch.clamp(disc, min=0.0))
    t0 = (-b - sqrt) / (2 * a)
    t1 = (-b + sqrt) / (2 * a)
    eps = 1e-4
    t = torch.where(t0 > eps, t0, torch.where(t1 > eps, t1, torch.full_like(t0, math.inf)))
    return torch.where((disc >= 0) & (a.abs() > 1e-12), t, torch.full_like(t, math.inf))


def _object_extent(shape: int, geometry: SceneGeometry) -> tuple[float, float]:
    """Height and bounding-sphere radius of a shape at scale 1."""
    if shape == 3:
        height, half_width = geometry.capsule_height, 0.5 * geometry.capsule_diameter
    else:
        height, half_width = geometry.object_size, 0.5 * geometry.object_size
    corner = math.sqrt(2 * half_width**2) if shape == 0 else half_width  # the cube's corners stick out
    return height, math.sqrt(corner**2 + (height / 2) ** 2) + 1e-3


def intersect_object(shape: int, origin, direction, centre, scale, yaw, geometry: SceneGeometry):
    """Ray-object intersection for one shape over N rays.

    origin, direction (N, 3); centre (N, 3) the object's foot point on the floor; scale, yaw (N,).
    Returns t (N,) (inf: miss) and the world normal at the hit (N, 3).
    """
    cos, sin = (value.to(yaw.dtype) for value in cos_sin(yaw))
    # Into the object's frame: translate to its foot point, rotate by -yaw about the vertical axis.
    rel = origin - centre
    ox = cos * rel[:, 0] - sin * rel[:, 2]
    oz = sin * rel[:, 0] + cos * rel[:, 2]
    oy = rel[:, 1]
    dx = cos * direction[:, 0] - sin * direction[:, 2]
    dz = sin * direction[:, 0] + cos * direction[:, 2]
    dy = direction[:, 1]
    inf = torch.full_like(ox, math.inf)
    if shape == 0:  # cube, side object_size * scale, resting on the floor
        half = 0.5 * geometry.object_size * scale
        o = torch.stack([ox, oy - half, oz], dim=1)  # relative to the cube's centre
        d = torch.stack([dx, dy, dz], dim=1)
        safe = torch.where(d.abs() < 1e-9, torch.full_like(d, 1e-9), d)
        t_a = (-half[:, None] - o) / safe
        t_b = (half[:, None] - o) / safe
        t_near, axis = torch.minimum(t_a, t_b).max(dim=1)
        t_far = torch.maximum(t_a, t_b).min(dim=1).values
        t = torch.where((t_near <= t_far) & (t_near > 1e-4), t_near, inf)
        sign = -torch.sign(torch.gather(d, 1, axis[:, None]).squeeze(1))
        local = torch.nn.functional.one_hot(axis, 3).to(d.dtype) * sign[:, None]
    elif shape == 2:  # sphere of diameter object_size * scale
        radius = 0.5 * geometry.object_size * scale
        cy = oy - radius
        t = _solve_quadratic(dx * dx + dy * dy + dz * dz, 2 * (ox * dx + cy * dy + oz * dz), ox * ox + cy * cy + oz * oz - radius * radius)
        local = torch.stack([ox + t * dx, cy + t * dy, oz + t * dz], dim=1) / radius[:, None]
    else:  # cylinder (flat top) or capsule (hemispherical caps), vertical axis
        if shape == 1:
            radius, height = 0.5 * geometry.object_size * scale, geometry.object_size * scale
            bottom, top = torch.zeros_like(radius), height
        else:
            radius, height = 0.5 * geometry.capsule_diameter * scale, geometry.capsule_height * scale
            bottom, top = radius, height - radius
        t_side = _solve_quadratic(dx * dx + dz * dz, 2 * (ox * dx + oz * dz), ox * ox + oz * oz - radius * radius)
        y_side = oy + t_side * dy
        t_side = torch.where((y_side >= bottom) & (y_side <= top), t_side, inf)
        normal_side = torch.stack([ox + t_side * dx, torch.zeros_like(ox), oz + t_side * dz], dim=1) / radius[:, None]
        if shape == 1:
            t_cap = (top - oy) / torch.where(dy.abs() < 1e-9, torch.full_like(dy, 1e-9), dy)
            x_cap, z_cap = ox + t_cap * dx, oz + t_cap * dz
            t_cap = torch.where((t_cap > 1e-4) & (x_cap * x_cap + z_cap * z_cap <= radius * radius), t_cap, inf)
            normal_cap = torch.zeros_like(normal_side)
            normal_cap[:, 1] = 1.0
        else:
            t_cap, normal_cap = inf, torch.zeros_like(normal_side)
            length2 = dx * dx + dy * dy + dz * dz
            for end in (bottom, top):
                cy = oy - end
                t_end = _solve_quadratic(length2, 2 * (ox * dx + cy * dy + oz * dz), ox * ox + cy * cy + oz * oz - radius * radius)
                closer = t_end < t_cap
                normal_end = torch.stack([ox + t_end * dx, cy + t_end * dy, oz + t_end * dz], dim=1) / radius[:, None]
                t_cap = torch.where(closer, t_end, t_cap)
                normal_cap = torch.where(closer[:, None], normal_end, normal_cap)
        side_first = t_side <= t_cap
        t = torch.where(side_first, t_side, t_cap)
        local = torch.where(side_first[:, None], normal_side, normal_cap)
    # Back to world: rotate the normal by +yaw.
    normal = torch.stack([cos * local[:, 0] + sin * local[:, 2], local[:, 1], -sin * local[:, 0] + cos * local[:, 2]], dim=1)
    return t, normal


def _near_sphere(origin, direction, centre, radius):
    """Rays (N, 3) passing within ``radius`` of ``centre`` ahead of their origin (unit directions)."""
    to_centre = centre - origin
    along = dot3(to_centre, direction)
    miss2 = dot3(to_centre, to_centre) - along * along
    return (miss2 <= radius * radius) & (along + radius > 0)


def camera_rays(cameras: Cameras, size: int, geometry: SceneGeometry) -> tuple[torch.Tensor, torch.Tensor]:
    """Origins and unit directions, float32 (B size^2, 3), of every pixel's ray (row 0 at the top)."""
    dtype = torch.float32
    device = cameras.position.device
    pixels_count = size * size
    focal = 1.0 / math.tan(math.radians(geometry.field_of_view) / 2)
    pixels = (torch.arange(size, device=device, dtype=dtype) + 0.5) / size * 2 - 1
    screen_y, screen_x = torch.meshgrid(-pixels, pixels, indexing="ij")  # row 0 at the top
    right, up, forward = (v.to(dtype)[:, None, :] for v in (cameras.right, cameras.up, cameras.forward))
    direction = normalize3(
        forward * focal + right * screen_x.reshape(1, -1, 1) + up * screen_y.reshape(1, -1, 1)
    ).reshape(-1, 3)
    origin = cameras.position.to(dtype).repeat_interleave(pixels_count, dim=0)
    return origin, direction


def room_hits(origin: torch.Tensor, direction: torch.Tensor, geometry: SceneGeometry) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance to the room along each ray (the nearest of floor, back wall and side walls in front of
    the camera) and which surface it is (0 floor, 1 back wall, 2 left wall, 3 right wall)."""
    dx, dy, dz = direction.unbind(-1)
    ox, oy, oz = origin.unbind(-1)
    inf = torch.full_like(dx, math.inf)

    def plane(numerator, denominator, facing):
        t = numerator / torch.where(denominator.abs() < 1e-9, torch.full_like(denominator, 1e-9), denominator)
        return torch.where(facing & (t > 1e-4), t, inf)

    return torch.stack([
        plane(-oy, dy, dy < 0),  # floor
        plane(-geometry.back_wall - oz, dz, dz < 0),  # back wall
        plane(-geometry.side_wall - ox, dx, dx < 0),  # left wall
        plane(geometry.side_wall - ox, dx, dx > 0),  # right wall
    ], dim=-1).min(dim=-1)


def render_scenes(
    cameras: Cameras,
    *,
    shape: torch.Tensor,
    scale: torch.Tensor,
    object_position: torch.Tensor,
    object_yaw: torch.Tensor,
    floor_hue: torch.Tensor,
    wall_hue: torch.Tensor,
    object_hue: torch.Tensor,
    geometry: SceneGeometry = DEFAULT_SCENE,
    size: int = IMAGE_SIZE,
) -> torch.Tensor:
    """Ray-cast a batch of scenes; returns float32 (B, 3, size, size) in [0, 1].

    ``object_position`` (B, 2) is the object's (x, z) on the floor; hues in [0, 1). The room is shaded
    everywhere; the object and shadow tests run only on the rays that pass near the object's bounding
    sphere (a small part of the image), which is where the time would otherwise go.
    """
    device = cameras.position.device
    batch = shape.shape[0]
    dtype = torch.float32
    pixels_count = size * size
    origin, direction = camera_rays(cameras, size, geometry)  # (B P, 3)
    light = normalize3(torch.tensor(geometry.light_direction, dtype=dtype, device=device))
    t_room, surface = room_hits(origin, direction, geometry)
    normals = torch.tensor([[0, 1, 0], [0, 0, 1], [1, 0, 0], [-1, 0, 0]], dtype=dtype, device=device)
    lit = torch.clamp(dot3(normals, light), min=0.0)[surface]  # Lambert factor of each room pixel

    colours = torch.stack([hue_to_rgb(h.float().cpu(), geometry.saturation) for h in (floor_hue, wall_hue, object_hue)], dim=1).to(device)
    image_of_ray = torch.arange(batch, device=device).repeat_interleave(pixels_count)
    albedo = torch.where((surface == 0)[:, None], colours[image_of_ray, 0], colours[image_of_ray, 1])

    foot = torch.zeros((batch, 3), dtype=dtype, device=device)
    foot[:, 0], foot[:, 2] = object_position[:, 0].to(dtype), object_position[:, 1].to(dtype)
    scale, yaw = scale.to(dtype), object_yaw.to(dtype)
    for code in range(len(SHAPE_NAMES)):
        images = torch.nonzero(shape == code, as_tuple=True)[0]
        if images.numel() == 0:
            continue
        height, radius = _object_extent(code, geometry)
        centre = foot[images].clone()
        centre[:, 1] = 0.5 * height * scale[images]
        bound = radius * scale[images]
        ray_index = (images[:, None] * pixels_count + torch.arange(pixels_count, device=device)[None, :]).reshape(-1)
        owner = torch.arange(images.numel(), device=device).repeat_interleave(pixels_count)
        # Camera rays that may hit the object.
        near = _near_sphere(origin[ray_index], direction[ray_index], centre[owner], bound[owner])
        rays, owners = ray_index[near], owner[near]
        args = (foot[images][owners], scale[images][owners], yaw[images][owners], geometry)
        t, normal = intersect_object(code, origin[rays], direction[rays], *args)
        hit = t < t_room[rays]
        rays, owners, normal = rays[hit], owners[hit], normal[hit]
        lit[rays] = torch.clamp(dot3(normal, light), min=0.0)
        albedo[rays] = colours[images[owners], 2]
        t_room[rays] = -1.0  # mark object pixels: no shadow test for them
        # Shadow rays from the room surfaces towards the light, near the object only.
        point = origin[ray_index] + direction[ray_index] * t_room[ray_index, None]
        towards = light.expand(ray_index.numel(), 3)
        near = (t_room[ray_index] > 0) & _near_sphere(point, towards, centre[owner], bound[owner])
        rays, owners = ray_index[near], owner[near]
        args = (foot[images][owners], scale[images][owners], yaw[images][owners], geometry)
        t_shadow, _ = intersect_object(code, point[near], towards[near], *args)
        lit[rays[torch.isfinite(t_shadow)]] = 0.0

    image = (albedo * (geometry.ambient + (1 - geometry.ambient) * lit)[:, None]).clamp(0, 1)
    return image.reshape(batch, pixels_count, 3).permute(0, 2, 1).reshape(batch, 3, size, size)


class ProceduralShapes3D:
    """The 3D Shapes grid ray-cast on demand. Same interface as :class:`OfficialShapes3D`."""

    name = "procedural"

    def __init__(self, geometry: SceneGeometry = DEFAULT_SCENE, device: str | torch.device = "cpu"):
        self.geometry = geometry
        self.device = torch.device(device)

    def __len__(self) -> int:
        return N_IMAGES

    def latents_classes(self, index) -> np.ndarray:
        return index_to_classes(index)

    def latents_values(self, index) -> np.ndarray:
        return classes_to_values(self.latents_classes(index))

    def render_values(self, values: np.ndarray) -> torch.Tensor:
        """Float (B, 3, 64, 64) images from factor values (B, 6) in the official units."""
        values = torch.as_tensor(np.asarray(values, dtype=np.float64), device=self.device)
        batch = values.shape[0]
        cameras = Cameras.orbit(values[:, 5], self.geometry)
        return render_scenes(
            cameras, shape=values[:, 4].round().long(), scale=values[:, 3],
            object_position=torch.zeros((batch, 2), device=self.device), object_yaw=torch.zeros(batch, device=self.device),
            floor_hue=values[:, 0], wall_hue=values[:, 1], object_hue=values[:, 2], geometry=self.geometry,
        )

    def images(self, index) -> np.ndarray:
        """uint8 (B, 64, 64, 3), as the official ``images``."""
        rendered = self.render_values(self.latents_values(index))
        return (rendered * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()

    def canonical_image(self, shape: int) -> np.ndarray:
        """Hues 0, scale index 7, orientation 0: the paper protocol's template, float (3, 64, 64)."""
        classes = np.array([[0, 0, 0, 7, shape, 7]])  # orientation class 7 is 0 degrees
        return self.render_values(classes_to_values(classes))[0].cpu().numpy()

    def __repr__(self) -> str:
        return f"ProceduralShapes3D(device={str(self.device)!r})"


class OfficialShapes3D:
    """Reader of the official ``3dshapes.h5``: ``images`` (N, 64, 64, 3) uint8 and ``labels`` (N, 6)
    float64, validated on opening and read in chunks (never all at once). A file with fewer rows than
    the full grid (a fixture) is accepted: row i must then hold the factors it claims.

    The file is read as untrusted input (:mod:`mmphase_bench.io.hdf5`). Checked on opening, each
    failure one line naming the file: it is HDF5; ``images`` and ``labels`` are datasets reached
    through links inside the file (no external links), with their data inside the file (no external
    storage, no virtual datasets, no plugin filters), of the dtypes and shapes above with
    1 <= N <= 480,000; every label row lies on the 3D Shapes grid (NaN does not) and no grid cell
    repeats. Reads that fail later (a truncated file) are one line too.

    One read-only handle is kept, opened lazily in each process (DataLoader workers and forked
    children open their own; pickling never carries it); ``close()`` or ``with`` releases it.
    """

    name = "official"

    def __init__(self, path: str | os.PathLike):
        from mmphase_bench.io import hdf5

        self.path = Path(path)
        self._where = where = f"source: {self.path}"
        self._handle = None
        self._pid: int | None = None
        self._nodes: dict = {}
        with hdf5.open_hdf5_safely(self.path, where) as handle:
            images, labels = self._datasets(handle)
            n = images.shape[0]
            if not 0 < n <= N_IMAGES:
                raise FileFormatError(f"{where}: expected 1 to {N_IMAGES} images, got {n}")
            if labels.shape != (n, 6):
                raise FileFormatError(f"{where}: labels must be float64 ({n}, 6), got {labels.dtype} {labels.shape}")
            self.n_available = n
            self._row_of = np.full(N_IMAGES, -1, dtype=np.int64)
            for lo in range(0, n, 65536):  # chunked: the labels are 23 MB in the full file
                chunk = hdf5.read(labels, slice(lo, lo + 65536), where, label="labels")
                classes = _values_to_classes(chunk, where)
                self._row_of[classes_to_index(classes)] = np.arange(lo, lo + chunk.shape[0])
            if np.count_nonzero(self._row_of >= 0) != n:
                raise FileFormatError(f"{where}: labels repeat a grid cell")

    def _datasets(self, handle):
        from mmphase_bench.io import hdf5

        where = self._where
        for key in ("images", "labels"):
            if handle.get(key, getlink=True) is None:
                raise FileFormatError(f"{where}: not a 3D Shapes file: missing dataset {key!r}")
        images = hdf5.require_dataset(handle, "images", where, label="images")
        labels = hdf5.require_dataset(handle, "labels", where, label="labels")
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (64, 64, 3):
            raise FileFormatError(f"{where}: images must be uint8 (N, 64, 64, 3), got {images.dtype} {images.shape}")
        if labels.dtype != np.float64 or labels.ndim != 2 or labels.shape[0] != images.shape[0]:
            raise FileFormatError(f"{where}: labels must be float64 ({images.shape[0]}, 6), got {labels.dtype} {labels.shape}")
        return images, labels

    def _file(self):
        """The process's handle, opened (and re-checked) on first use in each process."""
        from mmphase_bench.io import hdf5

        if self._handle is None or self._pid != os.getpid():
            self._handle = None  # a handle inherited through fork is not used (nor closed) here
            handle = hdf5.open_hdf5_safely(self.path, self._where)
            try:
                images, labels = self._datasets(handle)
                if images.shape[0] != self.n_available:
                    raise FileFormatError(f"{self._where}: the file changed since it was opened")
            except BaseException:
                handle.close()
                raise
            self._handle, self._pid = handle, os.getpid()
            self._nodes = {"images": images, "labels": labels}
        return self._handle

    def close(self) -> None:
        """Close the handle (if open here); it reopens on the next read."""
        if self._handle is not None and self._pid == os.getpid():
            self._handle.close()
        self._handle = None
        self._nodes = {}

    def __enter__(self) -> "OfficialShapes3D":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handle"], state["_pid"], state["_nodes"] = None, None, {}
        return state

    def __len__(self) -> int:
        return N_IMAGES

    def _rows(self, index) -> np.ndarray:
        index = np.atleast_1d(np.asarray(index, dtype=np.int64))
        index_to_classes(index)
        rows = self._row_of[index]
        if np.any(rows < 0):
            raise KeyError(f"{self.path.name} holds no image for grid index {int(index[rows < 0][0])}")
        return rows

    def _read(self, key: str, index) -> np.ndarray:
        from mmphase_bench.io import hdf5

        rows = self._rows(index)
        order = np.argsort(rows)
        unique, inverse = np.unique(rows[order], return_inverse=True)
        self._file()
        data = hdf5.read(self._nodes[key], unique, self._where, label=key)  # h5py needs increasing indices
        out = np.empty((rows.size, *data.shape[1:]), dtype=data.dtype)
        out[order] = data[inverse]
        return out

    def images(self, index) -> np.ndarray:
        return self._read("images", index)

    def latents_values(self, index) -> np.ndarray:
        return self._read("labels", index)

    def latents_classes(self, index) -> np.ndarray:
        return index_to_classes(index)

    def canonical_image(self, shape: int) -> np.ndarray:
        """Hues 0, scale index 7, orientation 0 as float (3, 64, 64); a missing cell is a FileFormatError."""
        index = classes_to_index(np.array([[0, 0, 0, 7, shape, 7]]))
        if self._row_of[int(index[0])] < 0:
            raise FileFormatError(
                f"{self._where}: holds no image for the template of shape {SHAPE_NAMES[shape]} (grid cell {int(index[0])})"
            )
        return self.images(index)[0].transpose(2, 0, 1).astype(np.float32) / 255.0

    def __repr__(self) -> str:
        return f"OfficialShapes3D(path={str(self.path)!r}, images={self.n_available})"


def _values_to_classes(values: np.ndarray, where: str) -> np.ndarray:
    classes = np.empty(values.shape, dtype=np.int64)
    for j, grid in enumerate(FACTOR_VALUES):
        distance = np.abs(values[:, j, None] - grid[None, :])
        classes[:, j] = distance.argmin(axis=1)
        if not np.all(distance.min(axis=1) <= 1e-4):  # NaN fails this too
            raise FileFormatError(f"{where}: labels column {FACTOR_NAMES[j]} holds values off the 3D Shapes grid")
    return classes


def shapes3d_source(source: str | os.PathLike = "procedural", device: str | torch.device = "cpu"):
    """``"procedural"`` or the path of the official ``3dshapes.h5``."""
    if isinstance(source, str) and source == "procedural":
        return ProceduralShapes3D(device=device)
    path = Path(source)
    if path.suffix.lower() not in (".h5", ".hdf5"):
        raise InputError(f"source must be 'procedural' or the path of the official {OFFICIAL_FILENAME}, got {str(source)!r}")
    return OfficialShapes3D(path)


__all__ = ["ProceduralShapes3D", "OfficialShapes3D", "SceneGeometry", "render_scenes", "Cameras", "shapes3d_source", "hue_to_rgb"]
