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

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from mmphase_bench.data.exact_ops import cos_sin

from mmphase_bench.errors import FileFormatError, InputError

logger = logging.getLogger(__name__)

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
    cos, sin = (value.float()[:, None, None] for value in cos_sin(orientation))  # per element, any batch size
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

    The file is read as untrusted input (:class:`~mmphase_bench.io.npz.NpzArchive`), member by
    member: the pickled ``metadata`` member is never opened (the grid is known), and no member is
    unpickled. Checked on opening, each failure one line naming the file: the file is a readable
    zip archive holding ``imgs``, ``latents_values`` and ``latents_classes``; ``imgs`` is a
    C-ordered uint8 (N, 64, 64) array with 1 <= N <= 737,280 whose every pixel is 0 or 1 (a single
    stray value would poison the templates), complete and undamaged; ``latents_values`` is float64
    (N, 6) and equal to the grid values of ``latents_classes``, an integer (N, 6) array of classes
    in range naming each grid cell at most once.

    Memory: ``latents_*`` (48 bytes per image) are loaded; ``imgs`` (3 GB in the full file) is not.
    When ``imgs`` is stored uncompressed (``np.savez``) it is memory-mapped at its offset inside the
    archive and images are read on demand. When it is compressed (the official file is written by
    ``np.savez_compressed``) it can only be decompressed: the check on opening streams through it
    once (memory: one 64 MB block) and keeps the three template images; the first request for any
    other image decompresses ``imgs`` in full into memory.

    A file holding only part of the grid (e.g. a test fixture) is accepted; asking for an image it
    lacks raises ``KeyError``, and :meth:`canonical_image` of a missing template cell a
    :class:`~mmphase_bench.errors.FileFormatError`. Use ``close()`` or ``with`` to drop the memory
    map; it is remade on demand (also after pickling, which never carries it).
    """

    name = "official"
    REQUIRED_KEYS = ("imgs", "latents_values", "latents_classes")
    _BLOCK = 16384  # images per block when scanning imgs (64 MB)

    def __init__(self, path: str | os.PathLike):
        from mmphase_bench.io.npz import NpzArchive

        self.path = Path(path)
        self._where = where = f"source: {self.path}"
        with NpzArchive(self.path, where) as archive:
            missing = [key for key in self.REQUIRED_KEYS if key not in archive.keys]
            if missing:
                raise FileFormatError(
                    f"{where}: not a dSprites file: missing {', '.join(missing)} (has {', '.join(archive.keys) or 'no arrays'})"
                )
            header = archive.header("imgs", kinds="biufc")
            if header.dtype != np.uint8 or len(header.shape) != 3 or header.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
                raise FileFormatError(f"{where}: imgs must be uint8 (N, 64, 64), got {header.dtype} {header.shape}")
            if header.fortran_order:
                raise FileFormatError(f"{where}: imgs is stored in Fortran order; expected C order as in the official file")
            n = header.shape[0]
            if n == 0 or n > N_IMAGES:
                raise FileFormatError(f"{where}: imgs must hold between 1 and {N_IMAGES} images, got {n}")
            values = archive.read("latents_values")
            classes = archive.read("latents_classes")
            self._validate_latents(n, values, classes)
            self._values = values
            self._classes = classes
            self._row_of = np.full(N_IMAGES, -1, dtype=np.int64)
            self._row_of[classes_to_index(classes)] = np.arange(n)
            template_cells = classes_to_index(np.array([[0, shape, 5, 0, 16, 16] for shape in range(len(SHAPE_NAMES))]))
            template_rows = {int(r) for r in self._row_of[template_cells] if r >= 0}
            self._stored = archive.is_stored("imgs")
            self._n = n
            self._cache: dict[int, np.ndarray] = {}
            self._images: np.ndarray | None = None
            if self._stored:
                images = archive.memmap("imgs")
                blocks = ((lo, images[lo:lo + self._BLOCK]) for lo in range(0, n, self._BLOCK))
            else:
                blocks = archive.iter_rows("imgs", self._BLOCK)
            for lo, block in blocks:
                largest = int(block.max())
                if largest > 1:
                    raise FileFormatError(f"{where}: imgs must be binary (0 or 1), found {largest} in images {lo}..{lo + len(block) - 1}")
                for row in template_rows:
                    if lo <= row < lo + len(block):
                        self._cache[row] = np.array(block[row - lo])
            if self._stored:
                self._images = images

    def _validate_latents(self, n: int, values: np.ndarray, classes: np.ndarray) -> None:
        where = self._where
        if values.dtype != np.float64 or values.shape != (n, 6):
            raise FileFormatError(f"{where}: latents_values must be float64 ({n}, 6), got {values.dtype} {values.shape}")
        if classes.dtype.kind not in "iu" or classes.shape != (n, 6):
            raise FileFormatError(f"{where}: latents_classes must be integer ({n}, 6), got {classes.dtype} {classes.shape}")
        if np.any(classes < 0) or np.any(classes >= np.array(FACTOR_SIZES)):
            raise FileFormatError(f"{where}: latents_classes out of range for factor sizes {FACTOR_SIZES}")
        if not np.allclose(values, classes_to_values(classes), atol=1e-6):  # NaN fails this too
            raise FileFormatError(f"{where}: latents_values do not match the dSprites factor grid")
        if len(np.unique(classes_to_index(classes))) != n:
            raise FileFormatError(f"{where}: latents_classes repeat a grid cell")

    def __len__(self) -> int:
        return N_IMAGES

    @property
    def n_available(self) -> int:
        return int(self._n)

    def _rows(self, index) -> np.ndarray:
        index = np.atleast_1d(np.asarray(index, dtype=np.int64))
        index_to_classes(index)  # range check
        rows = self._row_of[index]
        if np.any(rows < 0):
            raise KeyError(f"{self.path.name} holds no image for grid index {int(index[rows < 0][0])}")
        return rows

    def _all_images(self) -> np.ndarray:
        if self._images is None:
            from mmphase_bench.io.npz import NpzArchive

            with NpzArchive(self.path, self._where) as archive:
                if self._stored:
                    self._images = archive.memmap("imgs")
                else:
                    logger.info("decompressing all of imgs from %s", self.path)
                    self._images = archive.read("imgs")
            if self._images.shape != (self._n, IMAGE_SIZE, IMAGE_SIZE) or self._images.dtype != np.uint8:
                raise FileFormatError(f"{self._where}: imgs changed since the file was opened")
        return self._images

    def images(self, index) -> np.ndarray:
        rows = self._rows(index)
        if all(int(row) in self._cache for row in rows):
            return np.stack([self._cache[int(row)] for row in rows])
        try:
            return np.array(self._all_images()[rows])
        except OSError as error:  # a memory-mapped file that shrank since it was opened
            raise FileFormatError(f"{self._where}: cannot read imgs ({error})") from None

    def latents_classes(self, index) -> np.ndarray:
        return self._classes[self._rows(index)].astype(np.int64)

    def latents_values(self, index) -> np.ndarray:
        return self._values[self._rows(index)]

    def canonical_image(self, shape: int) -> np.ndarray:
        """The shape at the largest scale and orientation 0, moved to the canvas centre.

        The official grid has no centred position (posX/posY values straddle 0.5), so the image at
        posX = posY = index 16 is shifted by whole pixels until its centroid is at the centre.
        A file lacking that cell, or whose image there is empty, is a ``FileFormatError``.
        """
        classes = np.array([[0, shape, 5, 0, 16, 16]])
        cell = int(classes_to_index(classes)[0])
        if self._row_of[cell] < 0:
            raise FileFormatError(
                f"{self._where}: holds no image for the template of shape {SHAPE_NAMES[shape]} "
                f"(grid cell {cell}: scale 1, orientation 0, posX = posY = 16/31)"
            )
        image = self.images(cell)[0]
        rows, cols = np.nonzero(image)
        if rows.size == 0:
            raise FileFormatError(f"{self._where}: the official image of shape {SHAPE_NAMES[shape]} is empty")
        shift_r = int(round(IMAGE_SIZE / 2 - 0.5 - rows.mean()))
        shift_c = int(round(IMAGE_SIZE / 2 - 0.5 - cols.mean()))
        return np.roll(image, (shift_r, shift_c), axis=(0, 1))

    def close(self) -> None:
        """Drop the memory map (or the decompressed images); they are remade on demand."""
        self._images = None

    def __enter__(self) -> "OfficialDSprites":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_images"] = None  # never pickle 3 GB of images, nor a memory map
        return state

    def __repr__(self) -> str:
        return f"OfficialDSprites(path={str(self.path)!r}, images={self.n_available})"


def dsprites_source(source: str | os.PathLike = "procedural", device: str | torch.device = "cpu") -> DSpritesSource:
    """``"procedural"`` or the path of the official npz file."""
    if isinstance(source, str) and source == "procedural":
        return ProceduralDSprites(device=device)
    path = Path(source)
    if path.suffix.lower() != ".npz":
        raise InputError(f"source must be 'procedural' or the path of the official {OFFICIAL_FILENAME}, got {str(source)!r}")
    return OfficialDSprites(path)
