"""Token views: the TokenSpec of a caption view, validated on construction."""

import pytest

from mmphase_bench.data.tokenizer import WordTokenizer
from mmphase_bench.errors import InputError
from mmphase_bench.models.interface import ViewSpec
from mmphase_bench.models.tokens import TokenSpec, is_token_view


def test_token_spec_from_a_tokenizer():
    tokenizer = WordTokenizer.fit(["a red cube", "a red cube"], min_frequency=1, max_length=12)
    spec = TokenSpec.for_tokenizer(tokenizer)
    assert spec.shape == (12,) and spec.max_length == 12 and spec.vocab_size == tokenizer.vocab_size
    assert spec.kind == "tokens" and spec.dtype == "int64" and is_token_view(spec)
    assert not is_token_view(ViewSpec((3, 8, 8)))


@pytest.mark.parametrize("kwargs, message", [
    ({"shape": (4, 4), "vocab_size": 10}, "max_length"),
    ({"shape": (4,), "vocab_size": 1}, "vocab_size"),
    ({"shape": (4,), "vocab_size": 10, "pad_id": 10}, "pad_id"),
    ({"shape": (4,), "vocab_size": 10, "kind": "image"}, "kind"),
])
def test_token_spec_refuses_bad_fields(kwargs, message):
    with pytest.raises(InputError, match=message):
        TokenSpec(**kwargs)
