"""The image-text reference submissions: encoders, decoders, losses, the submission check, learning."""

import pytest
import torch
import torch.nn.functional as F

from mmphase_bench.errors import FileFormatError, InputError, MissingFileError
from mmphase_bench.harness.submission import check_submission, load_submission
from mmphase_bench.models.image_text import (
    IMAGE_TEXT_MODELS, CaptionDecoder, ImageTextSupervised, ImageToText, ResNet18Encoder, TextEncoder, TextToImage,
    caption_cross_entropy,
)
from mmphase_bench.models.interface import TaskSpec, ViewSpec
from mmphase_bench.models.registry import BUILTIN_MODELS, REGISTRY
from mmphase_bench.models.tokens import TokenSpec

IMAGE32 = ViewSpec((3, 32, 32))
TOKENS = TokenSpec((12,), vocab_size=40)
TASK = TaskSpec("classification", 4)


@pytest.mark.parametrize("name", sorted(IMAGE_TEXT_MODELS))
def test_every_image_text_model_passes_the_check(name):
    loaded = load_submission(name)
    assert loaded.source == f"builtin:{name}" and name in BUILTIN_MODELS and name not in REGISTRY
    check_submission(loaded, IMAGE32, TOKENS, TASK)


def test_the_check_catches_a_model_that_cannot_read_tokens(tmp_path):
    path = tmp_path / "float_only.py"
    path.write_text(
        "import torch\nfrom torch import nn\n"
        "class FloatOnly(nn.Module):\n    family = 'CA'\n"
        "    def __init__(self, x_spec, y_spec):\n        super().__init__()\n        self.a = nn.Linear(12, 4)\n"
        "    def loss(self, x, y):\n        return self.a(y).pow(2).mean()\n"
        "    def embed(self, x):\n        return x.flatten(1)[:, :4]\n"
    )
    with pytest.raises(InputError, match="loss"):
        check_submission(load_submission(f"{path}:FloatOnly"), IMAGE32, TOKENS, TASK)


def test_resnet_stem_follows_the_image_size():
    small, large = ResNet18Encoder(IMAGE32), ResNet18Encoder(ViewSpec((3, 64, 64)))
    assert small.backbone.conv1.stride == (1, 1) and isinstance(small.backbone.maxpool, torch.nn.Identity)
    assert large.backbone.conv1.stride == (2, 2) and large.backbone.conv1.kernel_size == (7, 7)
    assert not isinstance(large.backbone.maxpool, torch.nn.Identity)
    grey = ResNet18Encoder(ViewSpec((1, 64, 64)), out_dim=16)
    assert grey.backbone.conv1.in_channels == 1
    assert small(torch.rand(2, 3, 32, 32)).shape == (2, 128) and grey(torch.rand(2, 1, 64, 64)).shape == (2, 16)
    with pytest.raises(InputError, match="image"):
        ResNet18Encoder(ViewSpec((10,), kind="vector"))


def test_pretrained_weights_load_only_from_a_checked_local_file(tmp_path):
    torch.manual_seed(0)
    source = ResNet18Encoder(IMAGE32)
    path = tmp_path / "weights.pt"
    torch.save(source.backbone.state_dict(), path)
    torch.manual_seed(1)
    loaded = ResNet18Encoder(IMAGE32, weights_path=path)
    images = torch.rand(2, 3, 32, 32)
    source.eval(), loaded.eval()
    assert torch.equal(source(images), loaded(images)) and len(loaded.weights_sha256) == 64
    assert ResNet18Encoder(IMAGE32).weights_sha256 is None
    with pytest.raises(MissingFileError, match="weights_path"):
        ResNet18Encoder(IMAGE32, weights_path=tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(FileFormatError, match="weights_path"):
        ResNet18Encoder(IMAGE32, weights_path=tmp_path / "junk.pt")
    state = source.backbone.state_dict()
    state.pop("fc.bias")
    torch.save(state, tmp_path / "partial.pt")
    with pytest.raises(FileFormatError, match="fc.bias"):
        ResNet18Encoder(IMAGE32, weights_path=tmp_path / "partial.pt")
    torch.save(source.backbone.state_dict(), tmp_path / "other.pt")
    with pytest.raises(FileFormatError, match="shape"):
        ResNet18Encoder(ViewSpec((3, 32, 32)), out_dim=64, weights_path=tmp_path / "other.pt")


def test_text_encoder_ignores_everything_from_the_first_padding_on():
    torch.manual_seed(0)
    encoder = TextEncoder(TOKENS).eval()
    tokens = torch.tensor([[2, 7, 9, 11, 3, 0, 0, 0, 0, 0, 0, 0]])
    noisy = tokens.clone()
    noisy[0, 6:] = torch.tensor([5, 6, 7, 8, 9, 10])  # after the first pad: not part of the caption
    with torch.no_grad():
        a, b = encoder(tokens), encoder(noisy)
        c = encoder(torch.tensor([[2, 7, 9, 12, 3, 0, 0, 0, 0, 0, 0, 0]]))
        empty = encoder(torch.zeros(1, 12, dtype=torch.int64))
    assert torch.allclose(a, b, atol=1e-6) and not torch.allclose(a, c, atol=1e-4)
    assert torch.isfinite(empty).all()


def test_caption_cross_entropy_skips_padding():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 6)
    tokens = torch.tensor([[2, 5, 3, 0], [2, 3, 0, 0]])
    keep = tokens != 0
    manual = -F.log_softmax(logits, dim=-1).gather(-1, tokens[..., None])[..., 0][keep].mean()
    assert torch.allclose(caption_cross_entropy(logits, tokens, pad_id=0), manual)
    decoder = CaptionDecoder(TOKENS, in_dim=8)
    assert decoder(torch.randn(3, 8)).shape == (3, 12, 40)


def test_image_to_text_learns_to_name_the_image():
    """Two image classes, each with its own caption: a few Adam steps make the caption predictable."""
    torch.manual_seed(0)
    images = torch.cat([torch.zeros(8, 3, 16, 16), torch.ones(8, 3, 16, 16)]) * 0.8 + 0.1 * torch.rand(16, 3, 16, 16)
    captions = torch.tensor([[2, 10, 11, 3] + [0] * 8] * 8 + [[2, 20, 21, 3] + [0] * 8] * 8)
    model = ImageToText(ViewSpec((3, 16, 16)), TOKENS, TASK)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    first = float(model.loss(images, captions).detach())
    for _ in range(30):
        optimizer.zero_grad()
        model.loss(images, captions).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = model.decoder(model.embed(images)).argmax(-1)[:, 1]
    with torch.no_grad():
        assert float(model.loss(images, captions)) < 0.3 * first
    assert predicted[:8].eq(10).all() and predicted[8:].eq(20).all()


def test_text_to_image_probes_the_text_encoder_and_views_are_checked():
    model = TextToImage(ViewSpec((3, 64, 64)), TOKENS, TASK)
    assert model.probe_view == "y" and model.family == "CP"
    tokens = torch.tensor([[2, 5, 3] + [0] * 9] * 2)
    assert model.embed_y(tokens).shape == (2, 128)
    out = torch.sigmoid(model.decoder(model.embed_y(tokens)))
    assert out.shape == (2, 3, 64, 64)
    with pytest.raises(NotImplementedError):
        model.embed(torch.rand(2, 3, 64, 64))
    for cls in IMAGE_TEXT_MODELS.values():
        with pytest.raises(InputError, match=cls.name):
            cls(IMAGE32, IMAGE32, TASK)
    with pytest.raises(InputError, match="classification"):
        ImageTextSupervised(IMAGE32, TOKENS, TaskSpec("regression", 2))


def test_untrained_controls_fit_nothing_and_probe_their_encoder():
    from mmphase_bench.models.image_text import ImageUntrained, TextUntrained

    images, tokens = torch.rand(4, 3, 32, 32), torch.tensor([[2, 5, 3] + [0] * 9] * 4)
    for cls, view in ((ImageUntrained, "x"), (TextUntrained, "y")):
        torch.manual_seed(0)
        model = cls(IMAGE32, TOKENS, TASK)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        model.fit_closed_form(images, tokens, torch.zeros(4, dtype=torch.int64))
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
        assert model.closed_form and model.probe_view == view and model.family == "other"
        features = model.embed(images) if view == "x" else model.embed_y(tokens)
        assert features.shape == (4, 128)
