"""Where a data set renders: one validated ``device`` argument for every generator."""

from __future__ import annotations

import torch

from mmphase_bench.errors import InputError


def resolve_device(device: str | torch.device) -> torch.device:
    """``torch.device(device)``, or one line naming ``device`` when it is not one or is not there."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device='cuda' was asked for but no CUDA device is available")
    return resolved


__all__ = ["resolve_device"]
