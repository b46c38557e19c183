"""Elementwise maths whose bits do not depend on batch size, chunking or the torch thread count.

A generator must give the same bytes for sample i however it is requested (paper-facts section 4
asks for reproducible data; so do we). Three things in torch break that on CPU:

* reductions and BLAS calls (``(a * b).sum(-1)``, ``a @ b``, ``normalize``) may vectorise or split
  the sum differently for different tensor sizes and thread counts;
* vectorised transcendental kernels (``torch.cos`` through SLEEF) differ from the scalar ones (libm)
  in about one element in a thousand, and which elements take the scalar path (the tail of each
  thread's chunk) depends on the tensor size and the thread count;
* kernels that fuse a multiply and an add (``add(..., alpha=)``) round once in the vector path and
  twice in the scalar tail.

The helpers below use only correctly rounded, single operations (``+``, ``*``, ``/``, ``sqrt``) in a
fixed order, and evaluate per-sample trigonometry with NumPy, whose float64 ``cos``/``sin`` treat every
element alike. They are as fast as the originals for the sizes the generators use (per-pixel work
is elementwise; trigonometry is per sample).
"""

from __future__ import annotations

import numpy as np
import torch


def dot3(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Dot product over a last axis of size 3: ``a0 b0 + a1 b1 + a2 b2``, summed in that order."""
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def normalize3(v: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``v / max(||v||, eps)`` over a last axis of size 3 (the norm from :func:`dot3`)."""
    return v / torch.sqrt(dot3(v, v)).clamp_min(eps)[..., None]


def cross3(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cross product over a last axis of size 3, each component as two products and one difference."""
    a0, a1, a2 = a.unbind(-1)
    b0, b1, b2 = b.unbind(-1)
    return torch.stack((a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0), dim=-1)


def scaled_add(base: torch.Tensor, other: torch.Tensor, alpha: float) -> torch.Tensor:
    """``base + alpha * other`` for float32 tensors, rounded once, written into ``base``.

    This is what torch's vectorised ``base.add_(other, alpha=alpha)`` computes (a fused
    multiply-add with ``alpha`` rounded to float32), for every element: the float64 product of two
    float32 numbers is exact, so only the final sum is rounded (twice, which differs from one fused
    rounding in about one element in 2^29). torch's own kernel rounds the scalar tail of each chunk
    twice, so its bytes depend on the batch size and the thread count.
    """
    alpha32 = float(np.float32(alpha))
    return base.copy_(base.double().add_(other.double().mul_(alpha32)))


def cos_sin(angle: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``cos(angle)`` and ``sin(angle)`` in float64 on the angle's device, computed per element by NumPy."""
    values = angle.detach().to("cpu", torch.float64).numpy()
    return (
        torch.from_numpy(np.cos(values)).to(angle.device),
        torch.from_numpy(np.sin(values)).to(angle.device),
    )


__all__ = ["cos_sin", "cross3", "dot3", "normalize3", "scaled_add"]
