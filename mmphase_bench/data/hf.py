"""Export of generated pairs to a Hugging Face ``datasets.Dataset``."""

from __future__ import annotations

import datasets
import numpy as np


def to_hf_dataset(dataset, *, batch_size: int = 1024, cache_dir: str | None = None) -> datasets.Dataset:
    """x, y as float32 arrays (C, H, W), ``label`` as a ClassLabel, and every nuisance latent.

    Rows are written batch by batch (``Dataset.from_generator``), so memory holds one batch.
    """
    probe = dataset.generate(0, 1)
    channels, height, width = probe.x.shape[1:]
    features = {
        "x": datasets.Array3D(shape=(channels, height, width), dtype="float32"),
        "y": datasets.Array3D(shape=(channels, height, width), dtype="float32"),
        "label": datasets.ClassLabel(names=list(dataset.class_names)),
        "index": datasets.Value("int64"),
    }
    for name, value in probe.latents.items():
        if name == "label":
            continue
        shape = tuple(value.shape[1:])
        dtype = "int64" if not value.is_floating_point() else "float64"
        if not shape:
            features[name] = datasets.Value(dtype)
        elif len(shape) == 1:
            features[name] = datasets.Sequence(datasets.Value(dtype), length=shape[0])
        else:
            features[name] = datasets.Array2D(shape=shape, dtype=dtype)

    def rows():
        for batch in dataset.batches(batch_size):
            x, y = batch.x.cpu().numpy(), batch.y.cpu().numpy()
            label, index = batch.label.cpu().numpy(), batch.index.cpu().numpy()
            latents = {k: v.cpu().numpy() for k, v in batch.latents.items() if k != "label"}
            for i in range(len(label)):
                row = {"x": x[i], "y": y[i], "label": int(label[i]), "index": int(index[i])}
                row.update({k: (v[i].item() if v[i].ndim == 0 else np.asarray(v[i])) for k, v in latents.items()})
                yield row

    # The fingerprint keys the Arrow cache: the same configuration reuses it, another one never does.
    return datasets.Dataset.from_generator(
        rows, features=datasets.Features(features), cache_dir=cache_dir,
        fingerprint=dataset.fingerprint[:32], keep_in_memory=False,
    )
