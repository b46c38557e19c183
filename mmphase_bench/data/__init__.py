"""Paired two-view datasets: procedural dSprites and the Stereo-dSprites pairs, saved-file readers."""

from mmphase_bench.data.dsprites import (
    FACTOR_NAMES, FACTOR_SIZES, FACTOR_VALUES, SHAPE_NAMES, OfficialDSprites, ProceduralDSprites, SpriteGeometry,
    dsprites_source, render_sprites,
)
from mmphase_bench.data.pairs_file import PairsFile, save_pairs
from mmphase_bench.data.stereo import StereoConfig
from mmphase_bench.data.stereo_dsprites import BENCHMARK_GRID, StereoDSprites
from mmphase_bench.data.shapes3d import OfficialShapes3D, ProceduralShapes3D, SceneGeometry, shapes3d_source
from mmphase_bench.data.stereo_pairs import PairBatch, StereoPairs
from mmphase_bench.data.stereo_shapes3d import StereoShapes3D

__all__ = [
    "StereoDSprites", "StereoShapes3D", "StereoPairs", "ProceduralShapes3D", "OfficialShapes3D", "SceneGeometry",
    "shapes3d_source", "StereoConfig", "PairBatch", "PairsFile", "save_pairs", "BENCHMARK_GRID",
    "ProceduralDSprites", "OfficialDSprites", "SpriteGeometry", "dsprites_source", "render_sprites",
    "FACTOR_NAMES", "FACTOR_SIZES", "FACTOR_VALUES", "SHAPE_NAMES",
]
