"""The Sub-LN decoder and xPos against torchscale 0.3.0 and against the formulas."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import importlib.util
import math
import sys
import types
import warnings

import pytest
import torch

from kosmos_train.model.architecture.decoder import Decoder, KVCache, subln_gamma
from kosmos_train.model.components import apply_xpos, sinusoidal_table, xpos_tables
from kosmos_train.model.config import DecoderConfig

SMALL = DecoderConfig(
    vocab_size=101, layers=2, dim=64, ffn_dim=128, heads=4, max_len=64, dropout=0.0, attention_dropout=0.0
)


def logits_of(decoder: Decoder, ids: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
    return decoder.logits(decoder(decoder.embed_tokens(ids), cache))


@pytest.fixture(scope="module")
def ours() -> Decoder:
    torch.manual_seed(0)
    return Decoder(SMALL).eval()


def ensure_fairscale_names() -> None:
    """torchscale's decoder module imports `checkpoint_wrapper` and `wrap` from fairscale but calls them
    only with checkpoint_activations / fsdp, which this test leaves off; without fairscale installed,
    stand-ins that would fail loudly if called let torchscale (installed with --no-deps) import."""
    if importlib.util.find_spec("fairscale") is not None:
        return

    def not_available(*args, **kwargs):
        raise RuntimeError("fairscale is not installed")

    fairscale, nn = types.ModuleType("fairscale"), types.ModuleType("fairscale.nn")
    nn.checkpoint_wrapper, nn.wrap, fairscale.nn = not_available, not_available, nn
    sys.modules.update({"fairscale": fairscale, "fairscale.nn": nn})


@pytest.fixture(scope="module")
def torchscale_decoder(ours):
    """torchscale's Decoder(subln=True, xpos_rel_pos=True) holding our weights (q/k/v split)."""
    ensure_fairscale_names()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torchscale.architecture.config import DecoderConfig as TSConfig
        from torchscale.architecture.decoder import Decoder as TSDecoder
    args = TSConfig(
        vocab_size=SMALL.vocab_size,
        decoder_embed_dim=SMALL.dim,
        decoder_ffn_embed_dim=SMALL.ffn_dim,
        decoder_attention_heads=SMALL.heads,
        decoder_layers=SMALL.layers,
        subln=True,
        xpos_rel_pos=True,
        no_scale_embedding=False,
        share_decoder_input_output_embed=True,
    )
    ts = TSDecoder(args, embed_tokens=torch.nn.Embedding(SMALL.vocab_size, SMALL.dim)).eval()
    state = {}
    for name, tensor in ours.state_dict().items():
        if "qkv_proj" in name:
            for p, part in zip("qkv", tensor.chunk(3, dim=0), strict=True):
                state[name.replace("qkv_proj", f"{p}_proj")] = part
        else:
            state[name] = tensor
    state["output_projection.weight"] = state["embed_tokens.weight"]
    missing, unexpected = ts.load_state_dict(state, strict=False)
    assert not unexpected and all(m.endswith("xpos.scale") for m in missing)  # a constant buffer
    return ts


def test_full_forward_equals_torchscale(ours, torchscale_decoder):
    ids = torch.randint(0, SMALL.vocab_size, (2, 37), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        theirs, _ = torchscale_decoder(ids)
        mine = logits_of(ours, ids)
    assert theirs.abs().max() > 1
    torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-5)


def test_incremental_decoding_equals_torchscale(ours, torchscale_decoder):
    ids = torch.randint(0, SMALL.vocab_size, (2, 30), generator=torch.Generator().manual_seed(2))
    state = {"is_first_step": True}
    cache = KVCache.empty(SMALL.layers)
    with torch.no_grad():
        theirs = [torchscale_decoder(ids[:, :20], incremental_state=state)[0][:, -1]]
        mine = [logits_of(ours, ids[:, :20], cache)[:, -1]]
        state["is_first_step"] = False
        for t in range(20, 30):
            theirs.append(torchscale_decoder(ids[:, : t + 1], incremental_state=state)[0][:, -1])
            mine.append(logits_of(ours, ids[:, t : t + 1], cache)[:, -1])
    torch.testing.assert_close(torch.stack(mine), torch.stack(theirs), atol=1e-5, rtol=1e-5)
    assert cache.length == 30


def reference_xpos(x: torch.Tensor, positions: torch.Tensor, total: int, downscale: bool) -> torch.Tensor:
    """xPos written from the formula with complex numbers: pair i of position n turns by n*theta_i and
    is scaled by zeta_i^(c_n/512), c_n = n + floor(-total/2) (keys: divided instead)."""
    d = x.shape[-1]
    i = torch.arange(d // 2, dtype=torch.float64)
    theta = 10000 ** (-2 * i / d)
    zeta = (2 * i + 0.4 * d) / (1.4 * d)
    n = positions.double()[:, None]
    centred = n + math.floor(-total / 2)
    scale = zeta ** (centred / 512)
    if downscale:
        scale = 1 / scale
    z = torch.view_as_complex(x.double().reshape(*x.shape[:-1], d // 2, 2).contiguous())
    z = z * torch.polar(scale, n * theta)
    return torch.view_as_real(z).reshape(x.shape)


def test_xpos_matches_the_formula():
    d, total = 16, 11
    x = torch.randn(total, d, generator=torch.Generator().manual_seed(3))
    t = xpos_tables(total, d)
    pos = torch.arange(total)
    tol = {"atol": 1e-6, "rtol": 1e-5}  # float32 against float64
    torch.testing.assert_close(
        apply_xpos(x, t.cos_q, t.sin_q).double(), reference_xpos(x, pos, total, False), **tol
    )
    torch.testing.assert_close(
        apply_xpos(x, t.cos_k, t.sin_k).double(), reference_xpos(x, pos, total, True), **tol
    )
    # queries that are the last rows of a longer sequence (decoding) use the last rows of the table
    torch.testing.assert_close(
        apply_xpos(x[-3:], t.cos_q, t.sin_q).double(), reference_xpos(x[-3:], pos[-3:], total, False), **tol
    )


def scores(q: torch.Tensor, k: torch.Tensor, total: int, xpos: bool) -> torch.Tensor:
    """q_n . k_m for every (n, m), with xPos or plain RoPE (xPos without the scale)."""
    t = xpos_tables(total, q.shape[-1])
    if xpos:
        return apply_xpos(q, t.cos_q, t.sin_q) @ apply_xpos(k, t.cos_k, t.sin_k).T
    unscaled = xpos_tables(total, q.shape[-1], scale_base=10**12)  # zeta^(c/huge) = 1: plain RoPE
    return apply_xpos(q, unscaled.cos_q, unscaled.sin_q) @ apply_xpos(k, unscaled.cos_k, unscaled.sin_k).T


def test_xpos_decays_with_distance_where_rope_does_not():
    d, total = 64, 2048
    content = torch.randn(d, generator=torch.Generator().manual_seed(4))
    same = content.expand(total, d)  # equal content at every position
    s_x, s_r = scores(same, same, total, xpos=True), scores(same, same, total, xpos=False)
    # scores depend only on n - m (the centring cancels): a diagonal is constant
    torch.testing.assert_close(s_x.diagonal(-700)[:5], s_x.diagonal(-700)[-5:], rtol=1e-4, atol=1e-4)
    # per pair, q.k is exactly RoPE's times zeta_i^((n-m)/512)
    i = 5
    one_pair = torch.zeros(total, d)
    one_pair[:, 2 * i : 2 * i + 2] = content[2 * i : 2 * i + 2]
    zeta = (2 * i + 0.4 * d) / (1.4 * d)
    delta = 1000
    ratio = (
        scores(one_pair, one_pair, total, True)[delta + 3, 3]
        / scores(one_pair, one_pair, total, False)[delta + 3, 3]
    )
    assert ratio.item() == pytest.approx(zeta ** (delta / 512), rel=1e-4)
    # the envelope: max |q_n.k_m| over distance bins falls steadily with xPos, far less with RoPE
    bins = [(0, 64), (64, 512), (512, 1024), (1024, 1536), (1536, 2048)]
    by_distance_x, by_distance_r = s_x[-1].flip(0), s_r[-1].flip(0)  # index = n - m
    env_x = [by_distance_x[lo:hi].abs().max().item() for lo, hi in bins]
    env_r = [by_distance_r[lo:hi].abs().max().item() for lo, hi in bins]
    assert all(a > b for a, b in zip(env_x, env_x[1:], strict=False))
    assert env_x[-1] < 0.3 * env_x[0]
    ratio_x_to_rope = [x / r for x, r in zip(env_x, env_r, strict=True)]
    assert all(a > b for a, b in zip(ratio_x_to_rope, ratio_x_to_rope[1:], strict=False))
    assert ratio_x_to_rope[-1] < 0.7


def test_sinusoidal_table_is_fairseq_layout():
    t = sinusoidal_table(10, 8)
    half = 4
    w = torch.exp(torch.arange(half) * -(math.log(10000) / (half - 1)))
    torch.testing.assert_close(t[7], torch.cat([torch.sin(7 * w), torch.cos(7 * w)]))


@pytest.fixture(scope="module")
def wide() -> Decoder:
    torch.manual_seed(5)
    return Decoder(
        DecoderConfig(
            vocab_size=2000, layers=6, dim=256, ffn_dim=1024, heads=4, dropout=0.0, attention_dropout=0.0
        )
    )


def test_subln_layers_normalise_the_inputs_of_out_proj_and_fc2(wide):
    layer = wide.layers[0]
    assert layer.self_attn.inner_attn_ln.normalized_shape == (256,)
    assert layer.ffn.ffn_layernorm.normalized_shape == (1024,)
    assert wide.layer_norm.normalized_shape == (256,)
    seen = {}
    hooks = [
        layer.self_attn.out_proj.register_forward_pre_hook(lambda m, a: seen.__setitem__("out_proj", a[0])),
        layer.ffn.fc2.register_forward_pre_hook(lambda m, a: seen.__setitem__("fc2", a[0])),
    ]
    with torch.no_grad():
        wide(torch.randn(2, 9, 256))
    for h in hooks:
        h.remove()
    for x in seen.values():  # LN with weight 1, bias 0 at init: zero mean, unit variance per token
        torch.testing.assert_close(x.mean(-1), torch.zeros(x.shape[:-1]), atol=1e-4, rtol=0)
        torch.testing.assert_close(x.var(-1, unbiased=False), torch.ones(x.shape[:-1]), atol=1e-3, rtol=0)


def test_gamma_init_scales_fc1_fc2_out_proj_and_v_proj_only(wide):
    gamma = subln_gamma(6)
    assert subln_gamma(24) == pytest.approx(1.9675, abs=1e-4)

    def uniform_std(fan_in: int) -> float:  # default Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        return 1 / math.sqrt(3 * fan_in)

    def stacked(get) -> torch.Tensor:
        return torch.cat([get(layer).flatten() for layer in wide.layers])

    d, f = 256, 1024
    scaled = {
        "fc1.weight": (stacked(lambda m: m.ffn.fc1.weight), d),
        "fc1.bias": (stacked(lambda m: m.ffn.fc1.bias), d),
        "fc2.weight": (stacked(lambda m: m.ffn.fc2.weight), f),
        "out_proj.weight": (stacked(lambda m: m.self_attn.out_proj.weight), d),
        "v_proj.weight": (stacked(lambda m: m.self_attn.qkv_proj.weight[2 * d :]), d),
        "v_proj.bias": (stacked(lambda m: m.self_attn.qkv_proj.bias[2 * d :]), d),
        "out_proj.bias": (stacked(lambda m: m.self_attn.out_proj.bias), d),
    }
    for name, (w, fan_in) in scaled.items():
        assert w.std().item() == pytest.approx(gamma * uniform_std(fan_in), rel=0.06), name
        assert w.abs().max() <= gamma / math.sqrt(fan_in) and w.abs().max() > 1.2 / math.sqrt(fan_in), name
    unscaled = (  # q and k projections keep the default init
        stacked(lambda m: m.self_attn.qkv_proj.weight[: 2 * d]),
        stacked(lambda m: m.self_attn.qkv_proj.bias[: 2 * d]),
    )
    for w in unscaled:
        assert w.std().item() == pytest.approx(uniform_std(d), rel=0.06)
        assert w.abs().max() <= 1 / math.sqrt(d)
    assert wide.embed_tokens.weight.std().item() == pytest.approx(d**-0.5, rel=0.02)
    assert torch.equal(wide.layers[2].ffn.ffn_layernorm.weight, torch.ones(f))


def test_output_embeddings_are_tied_and_inputs_scaled_by_sqrt_d(ours):
    h = torch.randn(1, 3, SMALL.dim)
    torch.testing.assert_close(ours.logits(h), h @ ours.embed_tokens.weight.T)
    assert ours.embed_scale == pytest.approx(8.0)
    assert not any("lm_head" in n or "output" in n for n, _ in ours.named_parameters())


def test_activation_checkpointing_gives_the_same_gradients():
    torch.manual_seed(6)
    cfg = DecoderConfig(
        vocab_size=101, layers=2, dim=64, ffn_dim=128, heads=4, dropout=0.0, attention_dropout=0.0
    )
    plain = Decoder(cfg).train()
    ckpt = Decoder(DecoderConfig(**{**cfg.__dict__, "checkpoint_activations": True})).train()
    ckpt.load_state_dict(plain.state_dict())
    ids = torch.randint(0, 101, (2, 12))
    grads = []
    for model in (plain, ckpt):
        logits_of(model, ids).logsumexp(-1).sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    torch.testing.assert_close(grads[0], grads[1])
