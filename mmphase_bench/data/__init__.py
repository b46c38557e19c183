"""Paired two-view datasets: procedural dSprites and the Stereo-dSprites pairs, saved-file readers.

The names are imported lazily (PEP 562): ``import mmphase_bench.data`` does not import torch or h5py.
"""

from mmphase_bench._lazy import lazy_exports

_DSPRITES = "mmphase_bench.data.dsprites"
_SHAPES3D = "mmphase_bench.data.shapes3d"
#: public name -> the module that defines it
_EXPORTS = {
    "StereoDSprites": "mmphase_bench.data.stereo_dsprites", "BENCHMARK_GRID": "mmphase_bench.data.stereo_dsprites",
    "StereoShapes3D": "mmphase_bench.data.stereo_shapes3d",
    "StereoPairs": "mmphase_bench.data.stereo_pairs", "PairBatch": "mmphase_bench.data.stereo_pairs",
    "StereoConfig": "mmphase_bench.data.stereo",
    "CaptionedScenes": "mmphase_bench.data.captioned_scenes", "CocoStylePairs": "mmphase_bench.data.coco",
    "HFImageTextPairs": "mmphase_bench.data.hf_image_text", "ImageTextPairs": "mmphase_bench.data.image_text",
    "ImageTextBatch": "mmphase_bench.data.image_text", "StyleNuisance": "mmphase_bench.data.style",
    "WordTokenizer": "mmphase_bench.data.tokenizer",
    "PairsFile": "mmphase_bench.data.pairs_file", "save_pairs": "mmphase_bench.data.pairs_file",
    "ProceduralShapes3D": _SHAPES3D, "OfficialShapes3D": _SHAPES3D, "SceneGeometry": _SHAPES3D, "shapes3d_source": _SHAPES3D,
    "ProceduralDSprites": _DSPRITES, "OfficialDSprites": _DSPRITES, "SpriteGeometry": _DSPRITES,
    "dsprites_source": _DSPRITES, "render_sprites": _DSPRITES, "FACTOR_NAMES": _DSPRITES, "FACTOR_SIZES": _DSPRITES,
    "FACTOR_VALUES": _DSPRITES, "SHAPE_NAMES": _DSPRITES,
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
