"""Short names of the built-in submissions.

``REGISTRY``: the models of the stereo and spiked suites (image or vector views on both sides);
``IMAGE_TEXT_MODELS``: those of the image-text suites (an image x view, a token y view);
``BUILTIN_MODELS``: both, what a short name on the command line resolves in.
"""

from mmphase_bench.models.image_text import IMAGE_TEXT_MODELS
from mmphase_bench.models.reference import (
    InfoNCE, Joint, LinearCCA, LinearRRR, Reconstruct, ReconstructReverse, Supervised, Unimodal, UnimodalReverse, VICReg, VICRegBN,
)

REGISTRY = {
    cls.name: cls
    for cls in (VICReg, VICRegBN, InfoNCE, Reconstruct, ReconstructReverse, Joint, LinearCCA, LinearRRR, Unimodal, UnimodalReverse, Supervised)
}
BUILTIN_MODELS = {**REGISTRY, **IMAGE_TEXT_MODELS}
