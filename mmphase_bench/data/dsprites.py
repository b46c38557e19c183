"""dSprites: the factor grid, a procedural renderer, and a reader of the official file.

The official data set (Matthey et al., 2017) holds 737,280 binary 64 x 64 images, one for every
combination of six factors (paper-facts section 5)::

    color (1), shape (3: square, ellipse, heart), scale (6: linspace(0.5, 1, 6)),
    orientation (40: linspace(0, 2 pi, 40)), posX (32: linspace(0, 1, 32)), posY (32: linspace(0, 1, 32))

with posY varying fastest (index bases [737280, 245760, 40960, 1024, 32, 1]). Its generator (Love2D
vector drawing on a unit canvas) was never published, so :class:`ProceduralDSprites` renders the grid
from a documented geometry (:class:`SpriteGeometry`) instead; :class:`OfficialDSprites` reads the real
file for users who have it. Both offer the same interface (:class:`DSpritesSource`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

FACTOR_NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (1, 3, 6, 40, 32, 32)
SHAPE_NAMES = ("square", "ellipse", "heart")
N_IMAGES = int(np.prod(FACTOR_SIZES))  # 737,280
IMAGE_SIZE = 64
INDEX_BASES = np.array([int(np.prod(FACTOR_SIZES[i + 1:])) for i in range(len(FACTOR_SIZES))], dtype=np.int64)
FACTOR_VALUES = (
    np.array([1.0]),
    np.array([1.0, 2.0, 3.0]),  # the official file stores shapes as 1, 2, 3
    np.linspace(0.5, 1.0, 6),
    np.linspace(0.0, 2.0 * np.pi, 40),
    np.linspace(0.0, 1.0, 32),
    np.linspace(0.0, 1.0, 32),
)
OFFICIAL_FILENAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"


def classes_to_index(classes: np.ndarray) -> np.ndarray:
    """Flat grid index of factor classes (n, 6), in the official order."""
    classes = np.asarray(classes, dtype=np.int64)
    return classes @ INDEX_BASES


def index_to_classes(index: np.ndarray) -> np.ndarray:
    """Factor classes (n, 6) of flat grid indices."""
    index = np.atleast_1d(np.asarray(index, dtype=np.int64))
    if np.any(index < 0) or np.any(index >= N_IMAGES):
        raise IndexError(f"dSprites indices must lie in [0, {N_IMAGES}), got {index.min()}..{index.max()}")
    return (index[:, None] // INDEX_BASES[None, :]) % np.array(FACTOR_SIZES)[None, :]


def classes_to_values(classes: np.ndarray) -> np.ndarray:
    """Factor values (n, 6) of factor classes, as in the official ``latents_values``."""
    classes = np.asarray(classes, dtype=np.int64)
    return np.stack([FACTOR_VALUES[j][classes[:, j]] for j in range(len(FACTOR_SIZES))], axis=1)


@dataclass(frozen=True)
class SpriteGeometry:
    """How factor values map to pixels. The official values are unknown; these are our choices.

    Canvas coordinates run over [0, 1] in both directions (x to the right, y downwards); pixel
    (row r, column c) is lit when its centre ((c + 0.5) / 64, (r + 0.5) / 64) lies inside the shape.
    A sprite's centre is ``margin + (1 - 2 margin) * pos``; at scale 1 the square's side and the
    ellipse's long axis are ``size`` (in canvas units), the heart fits a box of the same width.
    Orientation rotates the shape counter-clockwise as seen on screen.
    """

    margin: float = 0.15
    size: float = 0.3
    ellipse_aspect: float = 0.5  #: short axis / long axis

    def centre(self, pos: np.ndarray | torch.Tensor):
        return self.margin + (1.0 - 2.0 * self.margin) * pos

    @property
    def max_radius(self) -> float:
        """Largest distance from a sprite's centre to a lit point at scale 1 (canvas units)."""
        return self.size * 0.5 * math.sqrt(2.0)


DEFAULT_GEOMETRY = SpriteGeometry()


def _inside(shape: torch.Tensor, u: torch.Tensor, v: torch.Tensor, geometry: SpriteGeometry) -> torch.Tensor:
    """Membership of points (u, v) in the canonical shapes; u, v in units of the sprite size, y down."""
    square = torch.maximum(u.abs(), v.abs()) <= 0.5
    long_axis, short_axis = 0.5, 0.5 * geometry.ellipse_aspect
    ellipse = (u / long_axis) ** 2 + (v / short_axis) ** 2 <= 1.0
    # Heart: the sextic (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, about 2.28 wide and 2.2 tall, centred
    # on its bounding box and scaled to width 1, point downwards on screen (y up = -v).
    x = u * 2.28
    y = -v * 2.28 + 0.12
    heart = (x * x + y * y - 1.0) ** 3 - x * x * y**3 <= 0.0
    shape = shape.view(-1, *([1] * (u.dim() - 1)))
    return torch.where(shape == 0, square, torch.where(shape == 1, ellipse, heart))


def render_sprites(
    shape: torch.Tensor | np.ndarray,
    scale: torch.Tensor | np.ndarray,
    orientation: torch.Tensor | np.ndarray,
    pos_x: torch.Tensor | np.ndarray,
    pos_y: torch.Tensor | np.ndarray,
    *,
    geometry: SpriteGeometry = DEFAULT_GEOMETRY,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Render a batch of sprites from continuous factor values; returns uint8 (B, 64, 64) in {0, 1}.

    ``shape`` holds 0-based shape codes (0 square, 1 ellipse, 2 heart). Only a window around each
    sprite is evaluated (a sprite covers a small part of the canvas), then placed on the canvas.
    """
    as_tensor = lambda value, dtype: torch.as_tensor(value, dtype=dtype, device=device).reshape(-1)  # noqa: E731
    shape = as_tensor(shape, torch.int64)
    scale, orientation = as_tensor(scale, torch.float64), as_tensor(orientation, torch.float64)
    pos_x, pos_y = as_tensor(pos_x, torch.float64), as_tensor(pos_y, torch.float64)
    batch = shape.shape[0]
    if not all(t.shape[0] == batch for t in (scale, orientation, pos_x, pos_y)):
        raise ValueError("render_sprites: all factor arrays must have the same length")
    size = IMAGE_SIZE
    radius_px = geometry.max_radius * float(scale.max()) * size if batch else 0.0
    window = int(math.ceil(2 * radius_px)) + 3
    centre_x, centre_y = geometry.centre(pos_x) * size, geometry.centre(pos_y) * size  # pixels
    origin_x = torch.floor(centre_x - window / 2).to(torch.int64)
    origin_y = torch.floor(centre_y - window / 2).to(torch.int64)
    steps = torch.arange(window, device=device)
    # Offsets from the centre in sprite units, in float64 (exact pixel decisions), then float32.
    unit = geometry.size * scale * size
    dx = (((origin_x[:, None] + steps[None, :]).double() + 0.5 - centre_x[:, None]) / unit[:, None]).float()
    dy = (((origin_y[:, None] + steps[None, :]).double() + 0.5 - centre_y[:, None]) / unit[:, None]).float()
    cos, sin = torch.cos(orientation).float()[:, None, None], torch.sin(orientation).float()[:, None, None]
    # Counter-clockwise on screen with y pointing down: invert the rotation on (dx, -dy).
    u = cos * dx[:, None, :] - sin * dy[:, :, None]
    v = sin * dx[:, None, :] + cos * dy[:, :, None]
    lit = _inside(shape, u, v, geometry).to(torch.uint8)  # (B, W, W): rows, columns
    padded = torch.zeros((batch, size + 2 * window, size + 2 * window), dtype=torch.uint8, device=device)
    rows = (origin_y + window)[:, None, None] + steps[None, :, None]
    cols = (origin_x + window)[:, None, None] + steps[None, None, :]
    padded[torch.arange(batch, device=device)[:, None, None], rows, cols] = lit
    return padded[:, window:window + size, window:window + size]


class DSpritesSource(Protocol):
    """Index access to the dSprites grid (procedural or official)."""

    def __len__(self) -> int: ...

    def images(self, index: np.ndarray) -> np.ndarray:
        """uint8 (B, 64, 64) images in {0, 1}."""

    def latents_classes(self, index: np.ndarray) -> np.ndarray: ...

    def latents_values(self, index: np.ndarray) -> np.ndarray: ...


class ProceduralDSprites:
    """The dSprites grid rendered on demand (no file needed). Same interface as :class:`OfficialDSprites`."""

    name = "procedural"

    def __init__(self, geometry: SpriteGeometry = DEFAULT_GEOMETRY, device: str | torch.device = "cpu"):
        self.geometry = geometry
        self.device = torch.device(device)

    def __len__(self) -> int:
        return N_IMAGES

    def latents_classes(self, index) -> np.ndarray:
        return index_to_classes(np.atleast_1d(index))

    def latents_values(self, index) -> np.ndarray:
        return classes_to_values(self.latents_classes(index))

    def images(self, index) -> np.ndarray:
        values = self.latents_values(index)
        images = render_sprites(
            values[:, 1].astype(np.int64) - 1, values[:, 2], values[:, 3], values[:, 4], values[:, 5],
            geometry=self.geometry, device=self.device,
        )
        return images.cpu().numpy()

    def canonical_image(self, shape: int) -> np.ndarray:
        """The shape at scale 1, orientation 0, exactly centred (the stereo protocol's template)."""
        centred = 0.5  # geometry.centre(0.5) = 0.5 whatever the margin
        return render_sprites([shape], [1.0], [0.0], [centred], [centred], geometry=self.geometry)[0].numpy()

    def __repr__(self) -> str:
        return f"ProceduralDSprites(geometry={self.geometry}, device={str(self.device)!r})"


class OfficialDSprites:
    """Reader of the official ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``.

    Never unpickles: the pickled ``metadata`` entry is not read (the grid is known). ``imgs``,
    ``latents_values`` and ``latents_classes`` are validated (dtypes, shapes, classes in range, values
    matching the known grid). A file holding only part of the grid (e.g. a test fixture) is accepted;
    asking for an image it lacks raises ``KeyError``.
    """

    name = "official"
    REQUIRED_KEYS = ("imgs", "latents_values", "latents_classes")

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"source: official dSprites file not found: {self.path}")
        try:
            with np.load(self.path, allow_pickle=False) as archive:
                missing = [key for key in self.REQUIRED_KEYS if key not in archive.files]
                if missing:
                    raise ValueError(
                        f"source: {self.path.name} is not a dSprites file: missing {', '.join(missing)} "
                        f"(has {', '.join(archive.files)})"
                    )
                images = archive["imgs"]
                values = archive["latents_values"]
                classes = archive["latents_classes"]
        except (OSError, ValueError) as error:
            if isinstance(error, ValueError) and str(error).startswith("source:"):
                raise
            raise ValueError(f"source: cannot read {self.path}: {error}") from None
        self._validate(images, values, classes)
        self._images = images
        self._values = values
        self._classes = classes
        self._row_of = np.full(N_IMAGES, -1, dtype=np.int64)
        self._row_of[classes_to_index(classes)] = np.arange(classes.shape[0])

    def _validate(self, images: np.ndarray, values: np.ndarray, classes: np.ndarray) -> None:
        where = f"source: {self.path.name}"
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"{where}: imgs must be uint8 (N, 64, 64), got {images.dtype} {images.shape}")
        n = images.shape[0]
        if n == 0 or n > N_IMAGES:
            raise ValueError(f"{where}: imgs must hold between 1 and {N_IMAGES} images, got {n}")
        if values.dtype != np.float64 or values.shape != (n, 6):
            raise ValueError(f"{where}: latents_values must be float64 ({n}, 6), got {values.dtype} {values.shape}")
        if not np.issubdtype(classes.dtype, np.integer) or classes.shape != (n, 6):
            raise ValueError(f"{where}: latents_classes must be integer ({n}, 6), got {classes.dtype} {classes.shape}")
        if np.any(classes < 0) or np.any(classes >= np.array(FACTOR_SIZES)):
            raise ValueError(f"{where}: latents_classes out of range for factor sizes {FACTOR_SIZES}")
        if not np.allclose(values, classes_to_values(classes), atol=1e-6):
            raise ValueError(f"{where}: latents_values do not match the dSprites factor grid")
        if len(np.unique(classes_to_index(classes))) != n:
            raise ValueError(f"{where}: latents_classes repeat a grid cell")
        largest = int(images.max())  # every image: a single stray value would poison the templates
        if largest > 1:
            raise ValueError(f"{where}: imgs must be binary (0 or 1), found {largest}")

    def __len__(self) -> int:
        return N_IMAGES

    @property
    def n_available(self) -> int:
        return int(self._images.shape[0])

    def _rows(self, index) -> np.ndarray:
        index = np.atleast_1d(np.asarray(index, dtype=np.int64))
        index_to_classes(index)  # range check
        rows = self._row_of[index]
        if np.any(rows < 0):
            raise KeyError(f"{self.path.name} holds no image for grid index {int(index[rows < 0][0])}")
        return rows

    def images(self, index) -> np.ndarray:
        return self._images[self._rows(index)]

    def latents_classes(self, index) -> np.ndarray:
        return self._classes[self._rows(index)].astype(np.int64)

    def latents_values(self, index) -> np.ndarray:
        return self._values[self._rows(index)]

    def canonical_image(self, shape: int) -> np.ndarray:
        """The shape at the largest scale and orientation 0, moved to the canvas centre.

        The official grid has no centred position (posX/posY values straddle 0.5), so the image at
        posX = posY = index 16 is shifted by whole pixels until its centroid is at the centre.
        """
        classes = np.array([[0, shape, 5, 0, 16, 16]])
        image = self.images(classes_to_index(classes))[0]
        rows, cols = np.nonzero(image)
        if rows.size == 0:
            raise ValueError(f"source: the official image of shape {SHAPE_NAMES[shape]} is empty")
        shift_r = int(round(IMAGE_SIZE / 2 - 0.5 - rows.mean()))
        shift_c = int(round(IMAGE_SIZE / 2 - 0.5 - cols.mean()))
        return np.roll(image, (shift_r, shift_c), axis=(0, 1))

    def __repr__(self) -> str:
        return f"OfficialDSprites(path={str(self.path)!r}, images={self.n_available})"


def dsprites_source(source: str | os.PathLike = "procedural", device: str | torch.device = "cpu") -> DSpritesSource:
    """``"procedural"`` or the path of the official npz file."""
    if isinstance(source, str) and source == "procedural":
        return ProceduralDSprites(device=device)
    path = Path(source)
    if path.suffix.lower() != ".npz":
        raise ValueError(f"source must be 'procedural' or the path of the official {OFFICIAL_FILENAME}, got {str(source)!r}")
    return OfficialDSprites(path)
