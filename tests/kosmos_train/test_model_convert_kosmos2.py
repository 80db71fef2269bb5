"""Equivalence with an independent implementation: transformers' Kosmos-2, converted into our model."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import dataclasses

import pytest
import torch

from kosmos_train.model import Kosmos
from kosmos_train.model.convert_kosmos2 import config_from_kosmos2, convert, convert_state_dict


@pytest.fixture(scope="module")
def kosmos2():
    """A tiny random Kosmos2ForConditionalGeneration (no download), every weight perturbed so that
    LayerNorms, biases and the latents all matter."""
    from transformers import Kosmos2Config, Kosmos2ForConditionalGeneration

    torch.manual_seed(0)
    cfg = Kosmos2Config(
        text_config=dict(
            vocab_size=1007,
            embed_dim=64,
            layers=2,
            ffn_dim=128,
            attention_heads=4,
            max_position_embeddings=64,
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),
        latent_query_num=8,
    )
    hf = Kosmos2ForConditionalGeneration(cfg).eval()
    with torch.no_grad():
        for p in hf.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return hf


@pytest.fixture(scope="module")
def converted(kosmos2) -> Kosmos:
    return convert(kosmos2).eval()


def inputs(model: Kosmos):
    v, n = model.vocab, model.config.connector.image_tokens
    ids = torch.tensor([[v.bos, v.image, *range(4, 4 + n), v.image_end, *range(100, 130), v.eos]])
    slots = torch.zeros_like(ids)
    slots[0, 2 : 2 + n] = 1
    pixels = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    return ids, slots, pixels


def test_converted_logits_match_transformers_kosmos2(kosmos2, converted):
    ids, slots, pixels = inputs(converted)
    with torch.no_grad():
        theirs = kosmos2(pixel_values=pixels, input_ids=ids, image_embeds_position_mask=slots).logits
        ours = converted(ids, pixels)
    assert theirs.std() > 0.5  # logits far from trivial
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


def test_image_features_and_text_only_logits_match_too(kosmos2, converted):
    ids, _, pixels = inputs(converted)
    with torch.no_grad():
        theirs = kosmos2.get_image_features(pixels).pooler_output
        torch.testing.assert_close(converted.image_embeddings(pixels), theirs, atol=1e-5, rtol=1e-5)
        text = ids[:, 12:]
        torch.testing.assert_close(
            converted(text), kosmos2.text_model(input_ids=text).logits, atol=1e-4, rtol=1e-4
        )


def test_converted_model_decodes_like_kosmos2(kosmos2, converted):
    ids, slots, pixels = inputs(converted)
    prompt, prompt_slots = ids[:, :15], slots[:, :15]
    with torch.no_grad():
        ours = converted.generate(prompt, pixels, max_new_tokens=5, eos_id=-1)
        theirs = kosmos2.generate(
            pixel_values=pixels,
            input_ids=prompt,
            image_embeds_position_mask=prompt_slots,
            max_new_tokens=5,
            do_sample=False,
            num_beams=1,
            min_new_tokens=5,
        )
    assert ours[0].tolist() == theirs[0, -5:].tolist()


def test_the_default_xpos_path_is_not_what_kosmos2_computes(kosmos2):
    """The switch matters: the same weights with xPos give different logits (guards the test above)."""
    config = config_from_kosmos2(kosmos2.config)
    config.decoder = dataclasses.replace(config.decoder, positions="xpos")
    model = Kosmos(config).eval()
    model.load_state_dict(convert_state_dict(kosmos2.state_dict(), config))
    ids, slots, pixels = inputs(model)
    with torch.no_grad():
        theirs = kosmos2(pixel_values=pixels, input_ids=ids, image_embeds_position_mask=slots).logits
        assert (model(ids, pixels) - theirs).abs().max() > 1e-2
