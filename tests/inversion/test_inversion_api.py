"""invert(): input checks, what G the result holds, callbacks, save/load round trips."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from inversion_testutils import assert_state_dict_equal, make_inrange_generator, state_dict_copy

from common.errors import CheckpointError, DragPipelineError
from inversion import InversionConfig, InversionError, InversionResult, invert
from inversion.project import synthesize


@pytest.fixture
def tiny_config(fast_config):
    return dataclasses.replace(fast_config, w_steps=3, wplus_steps=3, pti_steps=3)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((32, 32, 3), np.float32), "uint8"),
        (np.zeros((64, 64, 3), np.uint8), "align and resize"),
        (np.zeros((32, 48, 3), np.uint8), "32x32"),
        (np.zeros((32, 32), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((32, 32, 4), np.uint8), r"\(H, W, 3\)"),
        (torch.zeros(32, 32, 3, dtype=torch.uint8), "numpy"),
    ],
)
def test_bad_targets_raise_clear_errors(inrange_G, tiny_config, bad, match):
    with pytest.raises(InversionError, match=match) as info:
        invert(inrange_G, bad, "w", tiny_config)
    assert isinstance(info.value, DragPipelineError) and isinstance(info.value, ValueError)


def test_bad_method_and_config(known_target, tiny_config):
    G, _, target = known_target
    with pytest.raises(InversionError, match="method"):
        invert(G, target, "z", tiny_config)
    with pytest.raises(InversionError, match="InversionConfig"):
        invert(G, target, "w", {"w_steps": 3})


def test_target_is_not_modified(known_target, tiny_config):
    G, _, target = known_target
    copy = target.copy()
    invert(G, target, "pti", tiny_config)
    assert np.array_equal(copy, target)


def test_noise_optimization_returns_a_copy_with_the_new_noise(known_target, tiny_config):
    G, _, target = known_target
    before = state_dict_copy(G)
    result = invert(G, target, "w", tiny_config)  # optimize_noise defaults to True (NVlabs, PTI).
    assert_state_dict_equal(G, before)
    assert result.tuned and result.G is not G
    assert not torch.equal(result.G.synthesis.b16.conv1.noise_const, G.synthesis.b16.conv1.noise_const)
    assert torch.equal(result.G.synthesis.b16.conv1.weight, G.synthesis.b16.conv1.weight)


def test_result_fields(known_target, tiny_config):
    G, _, target = known_target
    seen = []
    result = invert(G, target, "w+", tiny_config, callback=lambda stage, step, n, loss: seen.append((stage, step, n)))
    assert seen == [("w", i, 3) for i in range(3)] + [("w+", i, 3) for i in range(3)]
    assert result.method == "w+" and result.config == tiny_config
    assert result.ws.dtype == torch.float32 and result.ws.device.type == "cpu"
    assert result.reconstruction.dtype == np.uint8 and result.reconstruction.shape == target.shape
    assert set(result.losses) == {"w", "w+"} and all(len(v) == 3 for v in result.losses.values())
    assert set(result.timings) == {"setup", "w_avg", "w", "w+", "total"}
    assert all(t >= 0 for t in result.timings.values())


def test_wplus_from_w_avg_skips_the_w_stage(known_target, tiny_config):
    G, _, target = known_target
    result = invert(G, target, "w+", dataclasses.replace(tiny_config, wplus_init="w_avg"))
    assert set(result.losses) == {"w+"}


def test_pti_around_a_wplus_pivot(known_target, tiny_config):
    G, _, target = known_target
    result = invert(G, target, "pti", dataclasses.replace(tiny_config, pti_pivot="w+"))
    assert set(result.losses) >= {"w", "w+", "pti"}
    assert not torch.equal(result.ws[:, 0], result.ws[:, -1])


def test_pti_result_round_trips_through_save_and_load(known_target, tiny_config, tmp_path):
    G, _, target = known_target
    result = invert(G, target, "pti", tiny_config)
    path = tmp_path / "sub" / "inv.pt"
    result.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["inv.pt"]  # No temporary file left behind.
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "draggan-pipeline.inversion" and raw["version"] == 2
    loaded = InversionResult.load(path)
    assert loaded.method == "pti" and loaded.tuned and loaded.config == result.config
    assert torch.equal(loaded.ws, result.ws)
    assert np.array_equal(loaded.reconstruction, result.reconstruction)
    assert loaded.losses == result.losses and loaded.timings == result.timings
    assert_state_dict_equal(loaded.G, state_dict_copy(result.G))
    assert not loaded.G.training and not any(p.requires_grad for p in loaded.G.parameters())
    with torch.no_grad():
        again = synthesize(loaded.G, loaded.ws)
    assert np.array_equal(
        (again[0] * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy(), result.reconstruction
    )


def test_untuned_result_needs_the_base_generator(known_target, tiny_config, tmp_path, tiny_generator_factory):
    G, _, target = known_target
    result = invert(G, target, "w", dataclasses.replace(tiny_config, optimize_noise=False))
    assert result.G is G and not result.tuned
    result.save(tmp_path / "w.pt")
    assert torch.load(tmp_path / "w.pt", weights_only=True)["generator"] is None
    with pytest.raises(InversionError, match="pass G="):
        InversionResult.load(tmp_path / "w.pt")
    other = make_inrange_generator(tiny_generator_factory, seed=9)
    with pytest.raises(InversionError, match="not the one"):
        InversionResult.load(tmp_path / "w.pt", G=other)
    loaded = InversionResult.load(tmp_path / "w.pt", G=G)
    assert loaded.G is G and torch.equal(loaded.ws, result.ws)


def test_load_rejects_other_files(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        InversionResult.load(tmp_path / "missing.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an inversion file"):
        InversionResult.load(tmp_path / "other.pt")
    torch.save({"format": "draggan-pipeline.inversion", "version": 99}, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="version"):
        InversionResult.load(tmp_path / "new.pt")


def test_missing_lpips_backbone_fails_before_any_work(known_target, tmp_path, monkeypatch):
    G, _, target = known_target
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    from common.errors import MissingWeightsError

    with pytest.raises(MissingWeightsError, match="vgg16-397923af.pth"):
        invert(G, target, "w", InversionConfig(w_steps=1))


def test_shared_squeeze_backbone_end_to_end(known_target, fast_config, squeeze_backbone):
    G, _, target = known_target
    config = dataclasses.replace(
        fast_config, lpips_backbone=str(squeeze_backbone), w_steps=15, pti_steps=10, pti_lr=2e-3
    )
    result = invert(G, target, "pti", config)
    assert result.losses["pti"][-1] < result.losses["pti"][0]
    assert result.losses["w"][-1] < result.losses["w"][0]


def test_inversion_is_fp32_even_when_the_top_blocks_run_in_reduced_precision(tiny_generator_factory, fast_config):
    # Projection and PTI synthesise with force_fp32 (their losses need fp32 gradients), so fp16 top blocks
    # (NVlabs' num_fp16_res with conv_clamp), here forced onto the CPU, change nothing.
    from inversion_testutils import synthesize_target

    from stylegan.networks import reduced_precision

    G = make_inrange_generator(tiny_generator_factory, num_fp16_res=2, conv_clamp=256)
    _, target = synthesize_target(G)
    config = dataclasses.replace(fast_config, w_steps=10, pti_steps=5)
    ref = invert(G, target, "pti", config)
    with reduced_precision(G, torch.bfloat16):
        out = invert(G, target, "pti", config)
    assert bool(torch.isfinite(out.ws).all())
    assert torch.equal(out.ws, ref.ws)
    assert np.array_equal(out.reconstruction, ref.reconstruction)
    assert out.losses["pti"][-1] < out.losses["pti"][0]
