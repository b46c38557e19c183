"""Short names of the built-in submissions."""

from mmphase_bench.models.reference import (
    InfoNCE, Joint, LinearCCA, LinearRRR, Reconstruct, ReconstructReverse, Supervised, Unimodal, VICReg, VICRegBN,
)

REGISTRY = {
    cls.name: cls
    for cls in (VICReg, VICRegBN, InfoNCE, Reconstruct, ReconstructReverse, Joint, LinearCCA, LinearRRR, Unimodal, Supervised)
}
