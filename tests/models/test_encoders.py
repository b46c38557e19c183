"""Encoders and decoders adapt to the views; the conv encoder is the paper's; the projector is 128-128-32,
without BatchNorm unless asked for."""

import pytest
import torch
from torch import nn

from mmphase_bench.models.encoders import (
    EMBEDDING_DIM, ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder, ViewSpec, build_decoder, build_encoder, projector,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ------------------------------------------------------------------ ViewSpec


def test_view_spec_size_and_validation():
    assert ViewSpec((3, 64, 64)).size == 3 * 64 * 64
    assert ViewSpec((20,), kind="vector").size == 20
    with pytest.raises(ValueError, match="kind"):
        ViewSpec((20,), kind="audio")
    with pytest.raises(ValueError, match="channels, height, width"):
        ViewSpec((64, 64), kind="image")
    with pytest.raises(ValueError, match="features"):
        ViewSpec((4, 5), kind="vector")


# ------------------------------------------------------------------ encoders adapt to the input


@pytest.mark.parametrize("spec, expected", [
    (ViewSpec((1, 64, 64)), ConvEncoder),
    (ViewSpec((3, 64, 64)), ConvEncoder),
    (ViewSpec((20,), kind="vector"), MLPEncoder),
    (ViewSpec((2, 30, 30)), MLPEncoder),  # sides not divisible by 16: an MLP on the flattened image
])
@pytest.mark.parametrize("width", [EMBEDDING_DIM, 3])
def test_build_encoder_output_shape(spec, expected, width):
    encoder = build_encoder(spec, width)
    assert isinstance(encoder, expected)
    out = encoder(torch.rand(5, *spec.shape))
    assert out.shape == (5, width)
    assert torch.isfinite(out).all()


def test_conv_encoder_rejects_sides_not_divisible_by_16():
    with pytest.raises(ValueError, match="divisible by 16"):
        ConvEncoder(ViewSpec((1, 30, 30)))


@pytest.mark.parametrize("channels", [1, 3])
def test_conv_encoder_has_the_papers_layers(channels):
    encoder = ConvEncoder(ViewSpec((channels, 64, 64)))
    convs = [m for m in encoder.conv if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 64, 64]
    assert [c.in_channels for c in convs] == [channels, 32, 32, 64]
    for conv in convs:
        assert conv.kernel_size == (4, 4) and conv.stride == (2, 2) and conv.padding == (1, 1)
    assert sum(isinstance(m, nn.ReLU) for m in encoder.conv) == 4
    linears = [m for m in encoder.head if isinstance(m, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(1024, 256), (256, 128)]
    # The feature map after the convolutions is 64 x 4 x 4 = 1024 for a 64 x 64 input.
    assert encoder.conv(torch.zeros(2, channels, 64, 64)).shape == (2, 64, 4, 4)


def test_conv_encoder_flattened_size_follows_the_input_size():
    encoder = ConvEncoder(ViewSpec((1, 32, 48)))
    first = next(m for m in encoder.head if isinstance(m, nn.Linear))
    assert first.in_features == 64 * 2 * 3
    assert encoder(torch.rand(4, 1, 32, 48)).shape == (4, EMBEDDING_DIM)


def test_mlp_encoder_layers():
    encoder = MLPEncoder(ViewSpec((20,), kind="vector"), out_dim=7)
    linears = [m for m in encoder.net if isinstance(m, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(20, 256), (256, 256), (256, 7)]


# ------------------------------------------------------------------ decoders


@pytest.mark.parametrize("shape", [(1, 64, 64), (3, 64, 64), (3, 32, 48)])
def test_conv_decoder_output_shape_equals_the_spec(shape):
    spec = ViewSpec(shape)
    decoder = build_decoder(spec, 16)
    assert isinstance(decoder, ConvDecoder)
    out = decoder(torch.randn(6, 16))
    assert out.shape == (6, *shape)


def test_conv_decoder_is_the_reference_codes_decoder():
    decoder = ConvDecoder(ViewSpec((3, 64, 64)))
    deconvs = [m for m in decoder.deconv if isinstance(m, nn.ConvTranspose2d)]
    assert [(d.in_channels, d.out_channels) for d in deconvs] == [(64, 64), (64, 32), (32, 32), (32, 3)]
    for deconv in deconvs:
        assert deconv.kernel_size == (4, 4) and deconv.stride == (2, 2) and deconv.padding == (1, 1)
    linears = [m for m in decoder.head if isinstance(m, nn.Linear)]
    # the paper's reference code: one linear layer 128 -> 64 x 4 x 4, then the transposed convolutions
    assert [(l.in_features, l.out_features) for l in linears] == [(128, 1024)]


@pytest.mark.parametrize("spec", [ViewSpec((20,), kind="vector"), ViewSpec((2, 30, 30))])
def test_mlp_decoder_output_shape_equals_the_spec(spec):
    decoder = build_decoder(spec, 5)
    assert isinstance(decoder, MLPDecoder)
    assert decoder(torch.randn(4, 5)).shape == (4, *spec.shape)


# ------------------------------------------------------------------ projector


def test_projector_is_128_128_32():
    head = projector()
    linears = [m for m in head if isinstance(m, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(128, 128), (128, 128), (128, 32)]
    # No BatchNorm by default (the paper's reference code): Linear, ReLU, Linear, ReLU, Linear.
    assert [type(m) for m in head] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert not any(isinstance(m, nn.BatchNorm1d) for m in head)
    assert isinstance(list(head)[-1], nn.Linear)  # no normalisation or activation after the last layer
    assert head(torch.randn(8, 128)).shape == (8, 32)


def test_projector_with_batch_norm_normalises_before_each_relu():
    head = projector(batch_norm=True)
    assert [type(m) for m in head] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert [m.num_features for m in head if isinstance(m, nn.BatchNorm1d)] == [128, 128]
    assert head(torch.randn(8, 128)).shape == (8, 32)


def test_projector_follows_the_input_width():
    head = projector(3)
    assert next(m for m in head if isinstance(m, nn.Linear)).in_features == 3
    assert head(torch.randn(8, 3)).shape == (8, 32)
