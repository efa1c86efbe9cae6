"""Reduced precision: bf16 autocast and the fp16 top blocks (num_fp16_res, conv_clamp) against fp32, on the CPU.

Tolerances are stated relative to the fp32 image (std about 1.2, values in about [-3, 3] for these random
generators): bf16 keeps 8 mantissa bits (relative rounding 2^-9), fp16 keeps 11 (2^-12).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stylegan.networks import reduced_precision
from stylegan.ops import demodulation_coefficients

# bf16-autocast forward of the config-f-shaped generator: measured 0.9 % RMS / 0.05 max (torch 2.14, CPU).
BF16_RMS, BF16_MAX = 0.02, 0.15
# fp16 top blocks: measured 0.05 % RMS / 0.003 max; bf16 stand-in for them: 0.4 % / 0.03.
FP16_BLOCKS_RMS, FP16_BLOCKS_MAX = 0.005, 0.02


@pytest.fixture(autouse=True)
def _keep_global_rng():
    """The tiny generators seed the global RNG; restore it so later modules see what they saw before."""
    with torch.random.fork_rng():
        yield


def config_f_shaped(factory, **kwargs):
    """64 px, channels min(2048 // res, 128): config-f's halving above 16 px, 8 mapping layers, noise on."""
    return factory(
        img_resolution=64, w_dim=128, channel_max=128, mapping_layers=8, noise_strength=0.1, seed=3, **kwargs
    )


def _ws(G, batch=2):
    z = torch.randn(batch, G.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return G.mapping(z, truncation_psi=0.7)


def _relative_rms(out, ref):
    return float((out.float() - ref).square().mean().sqrt() / ref.std())


def cpu_supports_fp16_conv() -> bool:
    try:
        x = torch.ones(1, 1, 4, 4, dtype=torch.float16)
        return F.conv2d(x, x[:, :, :3, :3]).dtype == torch.float16
    except RuntimeError:
        return False


def test_demodulation_coefficients_stay_fp32_under_bf16_autocast():
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(64, 512, 3, 3, generator=gen)
    styles = torch.randn(4, 512, generator=gen) + 1.0
    expected = (styles.double().square() @ weight.double().square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = demodulation_coefficients(weight, styles)
        # The same from bf16 styles (what an autocast affine layer would hand over) is still fp32 arithmetic.
        from_bf16 = demodulation_coefficients(weight, styles.bfloat16())
    assert got.dtype == torch.float32 and from_bf16.dtype == torch.float32
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=0)
    expected_bf16_in = (
        styles.bfloat16().double().square() @ weight.double().square().sum(dim=[2, 3]).t() + 1e-8
    ).rsqrt()
    torch.testing.assert_close(from_bf16.double(), expected_bf16_in, rtol=1e-5, atol=0)


def test_bf16_autocast_forward_of_config_f_shaped_generator_is_close_to_fp32(tiny_generator_factory):
    G = config_f_shaped(tiny_generator_factory)
    ws = _ws(G)
    with torch.no_grad():
        ref = G.synthesis(ws)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = G.synthesis(ws)
    assert out.dtype == torch.float32 and bool(torch.isfinite(out).all())
    assert _relative_rms(out, ref) <= BF16_RMS
    assert float((out - ref).abs().max()) <= BF16_MAX


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_fp16_top_blocks_run_reduced_and_stay_close_to_fp32(tiny_generator_factory, dtype):
    if dtype == torch.float16 and not cpu_supports_fp16_conv():
        pytest.skip("this PyTorch has no fp16 convolutions on the CPU; the bf16 case stands in for them")
    G = config_f_shaped(tiny_generator_factory, num_fp16_res=2, conv_clamp=256)
    ws = _ws(G)
    with torch.no_grad():
        ref, ref_feats = G.synthesis.image_and_features(ws)
        with reduced_precision(G, dtype):
            out, feats = G.synthesis.image_and_features(ws)
            forced = G.synthesis(ws, force_fp32=True)
    assert {res: f.dtype for res, f in feats.items()} == {
        4: torch.float32,
        8: torch.float32,
        16: torch.float32,
        32: dtype,
        64: dtype,
    }
    assert all(f.dtype == torch.float32 for f in ref_feats.values())  # fp16 blocks are fp32 off CUDA by default
    assert all(b.reduced_dtype is None for b in G.modules() if hasattr(b, "reduced_dtype"))  # restored
    assert torch.equal(forced, ref)  # force_fp32 wins over the override
    rms, top = (FP16_BLOCKS_RMS, FP16_BLOCKS_MAX) if dtype == torch.float16 else (BF16_RMS, BF16_MAX)
    assert out.dtype == torch.float32 and bool(torch.isfinite(out).all())
    assert _relative_rms(out, ref) <= rms
    assert float((out - ref).abs().max()) <= top


def test_conv_clamp_bounds_the_reduced_precision_blocks(tiny_generator_factory):
    dtype = torch.float16 if cpu_supports_fp16_conv() else torch.bfloat16
    clamp = 0.5  # far below the activations' scale, so clamping must act
    G = config_f_shaped(tiny_generator_factory, num_fp16_res=2, conv_clamp=clamp)
    ws = _ws(G)
    with torch.no_grad(), reduced_precision(G, dtype):
        _, feats = G.synthesis.image_and_features(ws)
    for res in (32, 64):
        assert feats[res].dtype == dtype
        assert float(feats[res].abs().max()) <= clamp
        assert float(feats[res].abs().max()) == pytest.approx(clamp)  # the clamp was reached


def test_reduced_precision_rejects_other_dtypes(tiny_G):
    with pytest.raises(ValueError, match="float16 or torch.bfloat16"):
        with reduced_precision(tiny_G, torch.float64):
            pass
