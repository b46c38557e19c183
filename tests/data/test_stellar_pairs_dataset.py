"""StellarPairs: the views and splits over a stellar-pairs file or catalogue."""

import numpy as np
import pytest
import torch

from mmphase_bench import SimulatedStars, StellarPairs, write_stellar_pairs
from mmphase_bench.data.stellar_pairs import LABEL_ORDER, normalised_spectra, split_of
from mmphase_bench.errors import InputError


@pytest.fixture(scope="module")
def catalogue():
    return SimulatedStars(survey="tess", n=60, seed=4).catalogue()


def test_splits_are_by_star_and_cover_every_star_once(catalogue):
    parts = [StellarPairs(catalogue, split=split) for split in ("train", "val", "test")]
    assert sum(len(part) for part in parts) == len(catalogue) == len(StellarPairs(catalogue, split="all"))
    assert len(parts[0]) > len(parts[1]) and len(parts[0]) > len(parts[2])
    # a star's split depends on its identifier only: reordering the file keeps it
    codes = split_of(catalogue)
    order = np.arange(len(catalogue))[::-1]
    np.testing.assert_array_equal(split_of(catalogue.subset(order)), codes[order])


def test_the_views_and_labels_come_from_the_file(catalogue, tmp_path):
    path = write_stellar_pairs(catalogue, tmp_path / "tess.h5")
    from_file = StellarPairs(path, split="all", features="acf")
    in_memory = StellarPairs(catalogue, split="all", features="acf")
    assert torch.equal(from_file.spectra, in_memory.spectra) and torch.equal(from_file.light_curves, in_memory.light_curves)
    spectrum, light_curve, labels = from_file[3]
    assert spectrum.shape == (3909,) and light_curve.ndim == 1
    np.testing.assert_allclose(labels.numpy(), [catalogue.labels[name][3] for name in LABEL_ORDER], rtol=1e-6)
    assert "split='all'" in repr(from_file) and "features='acf'" in repr(from_file)
    np.testing.assert_array_equal(from_file.label("logg"), catalogue.labels["logg"])


def test_the_spectrum_view_is_relative_to_its_median_and_zero_where_masked(catalogue):
    view = normalised_spectra(catalogue)
    good = catalogue.spectra_mask[0]
    assert np.median(view[0, good]) == pytest.approx(0.0, abs=1e-6)
    masked = catalogue.subset([0])
    masked.spectra_mask[0, :100] = False
    assert np.all(normalised_spectra(masked)[0, :100] == 0)


def test_bad_arguments_name_the_parameter(catalogue):
    with pytest.raises(InputError, match="split must be one of"):
        StellarPairs(catalogue, split="holdout")
    with pytest.raises(InputError, match="features must be one of"):
        StellarPairs(catalogue, features="wavelet")
    with pytest.raises(InputError, match="source must be"):
        StellarPairs(42)
    with pytest.raises(IndexError):
        StellarPairs(catalogue, split="all")[60]
