"""Device and random-state decisions of the pipeline, checked on the CPU."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from pipeline import PipelineConfig
from pipeline.stages import generator_on_device


class _GeneratorOnCuda0:
    """A stand-in generator whose parameters live on cuda:0 (no GPU needed); records moves."""

    moves: list = []

    def parameters(self):
        yield SimpleNamespace(device=torch.device("cuda", 0))

    def to(self, device):
        self.moves.append(str(device))
        return self


def test_a_generator_already_on_the_named_device_is_not_copied(monkeypatch):
    import pipeline.stages as stages

    monkeypatch.setattr(stages, "resolve_device", torch.device)  # no availability check: there is no GPU here
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    G = _GeneratorOnCuda0()
    # 'cuda' is cuda:0 here, although torch.device('cuda') != torch.device('cuda:0'): no copy, no move.
    for name in ("cuda", "cuda:0", "auto"):
        assert generator_on_device(G, PipelineConfig(device=name)).G is G
    assert _GeneratorOnCuda0.moves == []
    moved = generator_on_device(G, PipelineConfig(device="cuda:1"))
    assert moved.G is not G and _GeneratorOnCuda0.moves == ["cuda:1"]  # another GPU: a copy moved there


def _fake_cuda_generators(monkeypatch) -> list:
    """Two fake CUDA devices' generator states (no GPU here), seeded and restored through torch.cuda."""
    states = [torch.tensor([10]), torch.tensor([11])]
    import common.random

    monkeypatch.setattr(common.random, "_cuda_started", lambda: True)  # not torch.cuda.is_available: Adam asks it
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [t.clone() for t in states])
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda new: states.__setitem__(slice(None), list(new)))
    monkeypatch.setattr(
        torch.cuda, "manual_seed_all", lambda seed: states.__setitem__(slice(None), [torch.tensor([seed])] * 2)
    )
    monkeypatch.setattr(torch.cuda, "manual_seed", lambda seed: states.__setitem__(0, torch.tensor([seed])))
    return states


def test_an_edit_leaves_the_callers_random_state_alone(tiny_G, make_photo, monkeypatch):
    import dataclasses

    from draggan import DragConfig
    from inversion import InversionConfig
    from pipeline import edit_photo

    cuda_states = _fake_cuda_generators(monkeypatch)
    config = PipelineConfig(
        align_mode="center",
        inversion_method="w",
        inversion=InversionConfig(w_steps=2, lpips_net="squeeze", lpips_backbone="random"),
        drag=DragConfig(max_steps=2),
        use_cache=False,
        seed=5,
        device="cpu",  # the (fake) CUDA only holds random states
    )
    torch.manual_seed(77)
    before = torch.get_rng_state()
    cuda_states[:] = [torch.tensor([10]), torch.tensor([11])]
    photo = make_photo()
    edit_photo(photo, [[40.0, 30.0]], [[44.0, 30.0]], tiny_G, dataclasses.replace(config), progress=False)
    # The CPU generator and every (fake) CUDA device's are where the caller left them.
    assert torch.equal(torch.get_rng_state(), before)
    assert [int(t) for t in cuda_states] == [10, 11]


def test_deterministic_option_reaches_the_edit_and_changes_nothing_on_the_cpu(tiny_G, make_photo, monkeypatch):
    import dataclasses

    from draggan import DragConfig
    from inversion import InversionConfig
    from pipeline import edit_photo
    from pipeline.cli.parser import build_parser, options_from_args
    from pipeline.options import config_from_options

    seen = []
    real = torch.use_deterministic_algorithms
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda on, **kw: (seen.append(on), real(on, **kw)))
    args = build_parser().parse_args(["--image", "p.png", "--points", "p.json", "--deterministic", "--align", "center"])
    config = config_from_options(options_from_args(args))
    assert config.deterministic and "--deterministic" in options_from_args(args).to_argv()
    config = dataclasses.replace(
        config,
        inversion_method="w",
        inversion=InversionConfig(w_steps=2, lpips_net="squeeze", lpips_backbone="random"),
        drag=DragConfig(max_steps=3),
        use_cache=False,
        device="cpu",
    )
    photo = make_photo()
    on = edit_photo(photo, [[40.0, 30.0]], [[44.0, 30.0]], tiny_G, config, progress=False)
    assert seen == [True, False]  # switched on for the edit, back off after it
    off = edit_photo(
        photo, [[40.0, 30.0]], [[44.0, 30.0]], tiny_G, dataclasses.replace(config, deterministic=False), progress=False
    )
    assert np.array_equal(on.edited_photo, off.edited_photo)
