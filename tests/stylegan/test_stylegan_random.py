"""The one builder of untrained generators (stylegan/random.py): seeded, and the global RNG left alone."""

from __future__ import annotations

import torch

from stylegan import random_generator

_TINY = dict(z_dim=16, w_dim=16, channel_base=256, channel_max=16, mapping_layers=2)


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_the_same_seed_gives_bit_identical_weights_and_another_seed_others():
    G = random_generator(16, seed=4, **_TINY)
    assert _same_weights(G, random_generator(16, seed=4, **_TINY))
    other = random_generator(16, seed=5, **_TINY)
    assert not torch.equal(G.synthesis.b4.const, other.synthesis.b4.const)
    assert not torch.equal(G.synthesis.b16.conv1.noise_const, other.synthesis.b16.conv1.noise_const)


def test_the_global_cpu_rng_state_is_unchanged():
    torch.manual_seed(1234)
    state = torch.random.get_rng_state()
    random_generator(16, seed=0, **_TINY)
    assert torch.equal(torch.random.get_rng_state(), state)
    # ... and the caller's own seeding does not leak into the weights.
    torch.manual_seed(99)
    assert _same_weights(random_generator(16, seed=0, **_TINY), random_generator(16, seed=0, **_TINY))


def test_weights_are_the_generator_init_after_seeding_and_noise_its_own_stream():
    torch.manual_seed(7)
    from stylegan import Generator

    reference = Generator(img_resolution=16, **_TINY)
    G = random_generator(16, seed=7, w_avg_samples=None, **_TINY)
    for (name, a), (_, b) in zip(reference.named_parameters(), G.named_parameters()):
        assert torch.equal(a, b), name
    noise = torch.Generator().manual_seed(8)  # seed + 1, drawn layer after layer
    for name, buf in G.named_buffers():
        if name.endswith("noise_const"):
            assert torch.equal(buf, torch.randn(buf.shape, generator=noise)), name
    assert torch.count_nonzero(G.mapping.w_avg) == 0  # w_avg_samples=None leaves it alone


def test_options_noise_strength_w_avg_and_mode():
    G = random_generator(16, seed=0, noise_strength=0.25, w_avg_samples=64, **_TINY)
    strengths = [p for name, p in G.named_parameters() if name.endswith("noise_strength")]
    assert strengths and all(float(p) == 0.25 for p in strengths)
    assert torch.allclose(G.mapping.w_avg, G.mean_w(num_samples=64, seed=0)[0][0])
    assert not G.training and not any(p.requires_grad for p in G.parameters())
    assert G.img_resolution == 16 and G(torch.zeros(1, 16)).shape == (1, 3, 16, 16)


def test_output_std_scales_the_images_to_the_asked_spread():
    import torch

    from stylegan.random import random_generator

    kwargs = dict(z_dim=16, w_dim=16, channel_base=512, channel_max=16, mapping_layers=2)
    plain = random_generator(16, seed=3, **kwargs)
    scaled = random_generator(16, seed=3, output_std=0.5, **kwargs)
    z = torch.randn([8, 16], generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert abs(float(scaled(z).std()) - 0.5) < 1e-4 and abs(float(plain(z).std()) - 0.5) > 1e-2
