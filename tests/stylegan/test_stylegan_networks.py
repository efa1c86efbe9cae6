"""Generator behaviour on tiny random networks: shapes, ranges, truncation, partial synthesis, labels."""

from __future__ import annotations

import pytest
import torch


@pytest.mark.parametrize(
    "img_resolution,channel_max,kwargs",
    [
        (8, 16, {}),
        (16, 32, {}),
        (32, 32, {"img_channels": 1}),
        (64, 24, {"mapping_layers": 3}),
    ],
)
def test_forward_shapes_and_ranges(tiny_generator_factory, img_resolution, channel_max, kwargs):
    G = tiny_generator_factory(img_resolution=img_resolution, channel_max=channel_max, **kwargs)
    log2 = img_resolution.bit_length() - 1
    assert G.num_ws == 2 * log2 - 2
    assert G.synthesis.block_resolutions == [2**i for i in range(2, log2 + 1)]
    z = torch.randn(5, G.z_dim, generator=torch.Generator().manual_seed(0))
    ws = G.mapping(z)
    assert ws.shape == (5, G.num_ws, G.w_dim) and ws.dtype == torch.float32
    # Without truncation every row of ws is the same w.
    assert torch.equal(ws, ws[:, :1].expand_as(ws))
    for noise_mode in ("const", "random", "none"):
        img = G.synthesis(ws, noise_mode=noise_mode)
        assert img.shape == (5, G.img_channels, img_resolution, img_resolution)
        assert img.dtype == torch.float32 and torch.isfinite(img).all()
        # Equalised learning rate keeps activations near unit scale even untrained.
        assert 0.05 < img.std().item() < 10 and img.abs().max().item() < 50
    # 'const' noise is deterministic; 'random' is not (noise strength is non-zero here).
    G_noisy = tiny_generator_factory(
        img_resolution=img_resolution, channel_max=channel_max, noise_strength=0.5, **kwargs
    )
    ws = G_noisy.mapping(z)
    assert torch.equal(G_noisy.synthesis(ws, noise_mode="const"), G_noisy.synthesis(ws, noise_mode="const"))
    assert not torch.equal(G_noisy.synthesis(ws, noise_mode="random"), G_noisy.synthesis(ws, noise_mode="random"))


def test_fused_and_unfused_modconv_agree(tiny_G):
    ws = tiny_G.mapping(torch.randn(3, tiny_G.z_dim)) + 0.3 * torch.randn(3, tiny_G.num_ws, tiny_G.w_dim)
    a = tiny_G.synthesis(ws, fused_modconv=False)
    b = tiny_G.synthesis(ws, fused_modconv=True)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-4)


def test_bad_inputs_raise_value_error(tiny_G):
    with pytest.raises(ValueError, match="ws must have shape"):
        tiny_G.synthesis(torch.zeros(1, tiny_G.num_ws + 1, tiny_G.w_dim))
    with pytest.raises(ValueError, match="noise_mode"):
        tiny_G.synthesis(torch.zeros(1, tiny_G.num_ws, tiny_G.w_dim), noise_mode="sometimes")
    with pytest.raises(ValueError, match="z must have shape"):
        tiny_G.mapping(torch.zeros(1, tiny_G.z_dim + 1))


def test_truncation_psi_zero_gives_w_avg(tiny_G):
    ws = tiny_G.mapping(torch.randn(4, tiny_G.z_dim), truncation_psi=0.0)
    expected = tiny_G.mapping.w_avg.expand(4, tiny_G.num_ws, tiny_G.w_dim)
    torch.testing.assert_close(ws, expected, rtol=0, atol=1e-6)


def test_truncation_interpolates_towards_w_avg(tiny_G):
    z = torch.randn(4, tiny_G.z_dim)
    w = tiny_G.mapping(z)
    w_half = tiny_G.mapping(z, truncation_psi=0.5)
    torch.testing.assert_close(w_half, tiny_G.mapping.w_avg + 0.5 * (w - tiny_G.mapping.w_avg), rtol=0, atol=1e-6)


def test_truncation_cutoff_only_truncates_first_rows(tiny_G):
    z = torch.randn(3, tiny_G.z_dim)
    w = tiny_G.mapping(z)
    cutoff = 3
    w_cut = tiny_G.mapping(z, truncation_psi=0.0, truncation_cutoff=cutoff)
    torch.testing.assert_close(w_cut[:, :cutoff], tiny_G.mapping.w_avg.expand(3, cutoff, -1), rtol=0, atol=1e-6)
    assert torch.equal(w_cut[:, cutoff:], w[:, cutoff:])


@pytest.mark.parametrize("until_res", [4, 8, 16])
def test_features_until_block_matches_full_pass_and_skips_higher_blocks(tiny_G, monkeypatch, until_res):
    ws = tiny_G.mapping(torch.randn(2, tiny_G.z_dim)) + 0.2 * torch.randn(2, tiny_G.num_ws, tiny_G.w_dim)
    img, feats = tiny_G.synthesis.image_and_features(ws)
    assert list(feats) == tiny_G.synthesis.block_resolutions
    for res, feat in feats.items():
        assert feat.shape == (2, tiny_G.synthesis.channels[res], res, res)

    def boom(*args, **kwargs):
        raise AssertionError("a block above until_res was run")

    for res in tiny_G.synthesis.block_resolutions:
        block = getattr(tiny_G.synthesis, f"b{res}")
        monkeypatch.setattr(block.torgb, "forward", boom)  # features never need toRGB
        if res > until_res:
            monkeypatch.setattr(block, "forward", boom)
            monkeypatch.setattr(block, "forward_features", boom)
            for layer in (block.conv0, block.conv1):
                monkeypatch.setattr(layer, "forward", boom)
    feat = tiny_G.synthesis.features(ws, until_res=until_res)
    assert torch.equal(feat, feats[until_res])
    with pytest.raises(ValueError, match="until_res"):
        tiny_G.synthesis.features(ws, until_res=12)


def test_class_conditional_generator(tiny_generator_factory, tmp_path):
    from stylegan import load_generator, save_generator

    G = tiny_generator_factory(img_resolution=16, c_dim=4)
    assert G.c_dim == 4 and G.mapping.embed.weight.shape == (G.w_dim, 4)
    z = torch.randn(2, G.z_dim).repeat(2, 1)
    c = torch.eye(4)
    ws = G.mapping(z, c)
    assert ws.shape == (4, G.num_ws, G.w_dim)
    assert not torch.allclose(ws[0], ws[2])  # same z, different class -> different w
    assert G.synthesis(ws).shape == (4, 3, 16, 16)
    with pytest.raises(ValueError, match="class-conditional"):
        G.mapping(z)
    G2 = load_generator(save_generator(G, tmp_path / "cond.pt"))
    assert G2.c_dim == 4
    assert torch.equal(G2.mapping(z, c), ws)
