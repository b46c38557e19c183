"""Encoders and decoders that adapt to the input: images of any channel count, or flat vectors.

The image encoder is the paper's (paper-facts section 4): four convolutions (kernel 4, stride 2,
padding 1; 32-32-64-64 channels, ReLU) then fully connected layers 1024-256-128 for 64 x 64 inputs
(the flattened size follows the input size). The decoder is the one of the paper's reference code:
one linear layer 128 -> 1024 to a 64 x 4 x 4 map, then four transposed convolutions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from mmphase_bench.errors import InputError
from mmphase_bench.models.interface import EMBEDDING_DIM, ViewSpec

# ViewSpec and EMBEDDING_DIM live in the interface module; imported here for the encoders' callers.
class ConvEncoder(nn.Module):
    """4 x [Conv(k4, s2, p1) + ReLU] with 32-32-64-64 channels, then FC hidden -> 256 -> ``out_dim``."""

    def __init__(self, spec: ViewSpec, out_dim: int = EMBEDDING_DIM):
        super().__init__()
        channels, height, width = spec.shape
        if height % 16 or width % 16:
            raise InputError(f"ConvEncoder needs image sides divisible by 16, got {height} x {width}")
        layers, previous = [], channels
        for width_out in (32, 32, 64, 64):
            layers += [nn.Conv2d(previous, width_out, kernel_size=4, stride=2, padding=1), nn.ReLU(inplace=True)]
            previous = width_out
        self.conv = nn.Sequential(*layers)
        self.flat_shape = (64, height // 16, width // 16)
        flat = math.prod(self.flat_shape)  # 1024 for 64 x 64 inputs
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(flat, 256), nn.ReLU(inplace=True), nn.Linear(256, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x))


class ConvDecoder(nn.Module):
    """Linear ``in_dim`` -> 64 x (H/16) x (W/16) + ReLU, then 4 transposed convolutions (kernel 4,
    stride 2, padding 1; 64-32-32-C channels, ReLU between), as in the paper's reference code."""

    def __init__(self, spec: ViewSpec, in_dim: int = EMBEDDING_DIM):
        super().__init__()
        channels, height, width = spec.shape
        self.flat_shape = (64, height // 16, width // 16)
        self.head = nn.Sequential(nn.Linear(in_dim, math.prod(self.flat_shape)), nn.ReLU(inplace=True))
        layers, previous = [], 64
        for width_out in (64, 32, 32):
            layers += [nn.ConvTranspose2d(previous, width_out, kernel_size=4, stride=2, padding=1), nn.ReLU(inplace=True)]
            previous = width_out
        layers.append(nn.ConvTranspose2d(previous, channels, kernel_size=4, stride=2, padding=1))
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.head(z).view(-1, *self.flat_shape))


class MLPEncoder(nn.Module):
    """For flat vectors: Linear(d, 256) + ReLU + Linear(256, 256) + ReLU + Linear(256, ``out_dim``)."""

    def __init__(self, spec: ViewSpec, out_dim: int = EMBEDDING_DIM, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(spec.size, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MLPDecoder(nn.Module):
    def __init__(self, spec: ViewSpec, in_dim: int = EMBEDDING_DIM, hidden: int = 256):
        super().__init__()
        self.shape = spec.shape
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, spec.size),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.shape)


def build_encoder(spec: ViewSpec, out_dim: int = EMBEDDING_DIM) -> nn.Module:
    """The paper's conv encoder for images whose sides divide by 16, an MLP otherwise."""
    if spec.kind == "image" and spec.shape[1] % 16 == 0 and spec.shape[2] % 16 == 0:
        return ConvEncoder(spec, out_dim)
    return MLPEncoder(spec, out_dim)


def build_decoder(spec: ViewSpec, in_dim: int = EMBEDDING_DIM) -> nn.Module:
    if spec.kind == "image" and spec.shape[1] % 16 == 0 and spec.shape[2] % 16 == 0:
        return ConvDecoder(spec, in_dim)
    return MLPDecoder(spec, in_dim)


def projector(in_dim: int = EMBEDDING_DIM, sizes: tuple[int, ...] = (128, 128, 32), batch_norm: bool = False) -> nn.Module:
    """A projection head: Linear layers with output ``sizes``, ReLU between them; with ``batch_norm``
    a BatchNorm1d before each ReLU (as in the original VICReg paper). The paper's reference code
    uses ``sizes=(128, 32)``: Linear(128, 128)-ReLU-Linear(128, 32)."""
    layers, previous = [], in_dim
    for i, size in enumerate(sizes):
        layers.append(nn.Linear(previous, size))
        if i < len(sizes) - 1:
            layers += ([nn.BatchNorm1d(size)] if batch_norm else []) + [nn.ReLU(inplace=True)]
        previous = size
    return nn.Sequential(*layers)
