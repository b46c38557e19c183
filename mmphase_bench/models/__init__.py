"""Encoders, losses and the built-in reference submissions."""

from mmphase_bench.models.encoders import EMBEDDING_DIM, ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder, ViewSpec
from mmphase_bench.models.losses import InfoNCELoss, VICRegLoss

__all__ = ["ViewSpec", "ConvEncoder", "ConvDecoder", "MLPEncoder", "MLPDecoder", "EMBEDDING_DIM", "VICRegLoss", "InfoNCELoss"]
