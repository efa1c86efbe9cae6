"""Fixtures of the checkpoint tests: a tiny generator with noise, and a writer of NVlabs-style pickles."""

from __future__ import annotations

import collections
import pickle
import sys
import types

import pytest
import torch

from stylegan import Generator

DUMMY_MODULE_SRC = "raise SystemExit('the embedded source code was executed')\n"


def assert_same_weights(G1: Generator, G2: Generator) -> None:
    """Same keys in the same order, float32, bit-equal."""
    sd1, sd2 = G1.state_dict(), G2.state_dict()
    assert list(sd1) == list(sd2)
    for key in sd1:
        assert sd1[key].dtype == sd2[key].dtype == torch.float32, key
        assert torch.equal(sd1[key], sd2[key]), key


def random_ws(G: Generator, n: int = 2, seed: int = 0) -> torch.Tensor:
    """(n, num_ws, w_dim) mapped latents plus a little W+ noise, seeded."""
    gen = torch.Generator().manual_seed(seed)
    return G.mapping(torch.randn(n, G.z_dim, generator=gen)) + 0.2 * torch.randn(n, G.num_ws, G.w_dim, generator=gen)


@pytest.fixture
def G(tiny_generator_factory) -> Generator:
    # Non-zero noise strengths so that the const noise buffers matter.
    return tiny_generator_factory(img_resolution=32, noise_strength=0.3)


@pytest.fixture
def nvlabs_pickler(monkeypatch):
    """Writes NVlabs-style pickles: each module pickled as
    torch_utils.persistence._reconstruct_persistent_obj(meta), as persistence.py does."""
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # never to be called by the loader
        raise AssertionError("the original reconstruct hook was called")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")

    class EasyDict(dict):
        pass

    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    util.EasyDict = EasyDict
    for name, module in (
        ("torch_utils", types.ModuleType("torch_utils")),
        ("torch_utils.persistence", persistence),
        ("dnnlib", types.ModuleType("dnnlib")),
        ("dnnlib.util", util),
    ):
        monkeypatch.setitem(sys.modules, name, module)

    class Persistent:
        def __init__(self, module: torch.nn.Module, init_kwargs: dict | None = None):
            self.module, self.init_kwargs = module, init_kwargs or {}

        def __reduce__(self):
            state = dict(self.module.__dict__)
            state["_modules"] = collections.OrderedDict(
                (name, Persistent(child)) for name, child in self.module._modules.items()
            )
            state["_init_args"] = ()
            state["_init_kwargs"] = self.init_kwargs
            meta = dict(
                type="class", version=6, module_src=DUMMY_MODULE_SRC, class_name=type(self.module).__name__, state=state
            )
            return (_reconstruct_persistent_obj, (meta,))

    def write(path, G: Generator, extra: dict | None = None, top_level_G: bool = False, protocol: int = 4):
        cfg = G.init_kwargs
        init_kwargs = dict(
            z_dim=cfg["z_dim"],
            c_dim=cfg["c_dim"],
            w_dim=cfg["w_dim"],
            img_resolution=cfg["img_resolution"],
            img_channels=cfg["img_channels"],
            mapping_kwargs=EasyDict(num_layers=cfg["mapping_layers"]),
            synthesis_kwargs=EasyDict(
                channel_base=cfg["channel_base"],
                channel_max=cfg["channel_max"],
                num_fp16_res=cfg["num_fp16_res"],
                conv_clamp=cfg["conv_clamp"],
            ),
        )
        obj = Persistent(G, init_kwargs)
        if not top_level_G:
            obj = {
                "G": Persistent(G, init_kwargs),
                "D": None,
                "G_ema": obj,
                "augment_pipe": None,
                "training_set_kwargs": EasyDict(path="data.zip", resolution=cfg["img_resolution"]),
                **(extra or {}),
            }
        with open(path, "wb") as f:
            pickle.dump(obj, f, protocol=protocol)
        return path

    write.EasyDict = EasyDict
    return write
