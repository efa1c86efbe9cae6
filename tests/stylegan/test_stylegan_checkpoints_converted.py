"""Other projects' formats: legacy TensorFlow pickles, mmagic, rosinality, prefixed NVlabs state dicts."""

from __future__ import annotations

import pickle
import sys
import types

import pytest
import torch

from stylegan import (
    CheckpointError,
    Generator,
    detect_format,
    export_mmagic_state_dict,
    export_rosinality_checkpoint,
    infer_config,
    load_generator,
)
from stylegan.checkpoints import MMAGIC_NOISE_SEED
from tests.stylegan.conftest import DUMMY_MODULE_SRC, assert_same_weights, random_ws

# ----------------------------------------------------------------------------- legacy TensorFlow pickles


def _tf_variables(G: Generator) -> tuple[dict, dict]:
    """Inverse of NVlabs legacy.py's variable map (TF layouts), for a synthetic TF pickle."""
    sd = {k: v.numpy() for k, v in G.state_dict().items()}
    mapping = {}
    for i in range(G.init_kwargs["mapping_layers"]):
        mapping[f"Dense{i}/weight"] = sd[f"mapping.fc{i}.weight"].T
        mapping[f"Dense{i}/bias"] = sd[f"mapping.fc{i}.bias"]
    synthesis = {"4x4/Const/const": sd["synthesis.b4.const"][None]}

    def layer(src, dst, noise_index, flip=False):
        w = sd[f"{dst}.weight"].transpose(2, 3, 1, 0)
        synthesis[f"{src}/weight"] = w[::-1, ::-1].copy() if flip else w
        synthesis[f"{src}/bias"] = sd[f"{dst}.bias"]
        synthesis[f"{src}/noise_strength"] = sd[f"{dst}.noise_strength"]
        synthesis[f"{src}/mod_weight"] = sd[f"{dst}.affine.weight"].T
        synthesis[f"{src}/mod_bias"] = sd[f"{dst}.affine.bias"] - 1
        synthesis[f"noise{noise_index}"] = sd[f"{dst}.noise_const"][None, None]

    def torgb(src, dst):
        synthesis[f"{src}/weight"] = sd[f"{dst}.weight"].transpose(2, 3, 1, 0)
        synthesis[f"{src}/bias"] = sd[f"{dst}.bias"]
        synthesis[f"{src}/mod_weight"] = sd[f"{dst}.affine.weight"].T
        synthesis[f"{src}/mod_bias"] = sd[f"{dst}.affine.bias"] - 1

    layer("4x4/Conv", "synthesis.b4.conv1", 0)
    torgb("4x4/ToRGB", "synthesis.b4.torgb")
    for log2 in range(3, G.img_resolution.bit_length()):
        r = 2**log2
        layer(f"{r}x{r}/Conv0_up", f"synthesis.b{r}.conv0", 2 * log2 - 5, flip=True)
        layer(f"{r}x{r}/Conv1", f"synthesis.b{r}.conv1", 2 * log2 - 4)
        torgb(f"{r}x{r}/ToRGB", f"synthesis.b{r}.torgb")
    return mapping, synthesis, {"dlatent_avg": sd["mapping.w_avg"]}


def test_tensorflow_pickle_loads(G, monkeypatch, tmp_path):
    network_module = types.ModuleType("dnnlib.tflib.network")

    class Network:  # mimics dnnlib.tflib.network.Network's pickled state
        def __init__(self, name, variables, components, static_kwargs):
            self.state = dict(
                version=4,
                name=name,
                static_kwargs=static_kwargs,
                components=components,
                build_module_src=DUMMY_MODULE_SRC,
                build_func_name="G_main",
                variables=list(variables.items()),
            )

        def __getstate__(self):
            return self.state

    Network.__module__, Network.__qualname__ = "dnnlib.tflib.network", "Network"
    network_module.Network = Network
    for name in ("dnnlib", "dnnlib.tflib"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "dnnlib.tflib.network", network_module)
    mapping, synthesis, top = _tf_variables(G)
    kwargs = dict(
        resolution=32,
        num_channels=3,
        label_size=0,
        fmap_base=G.init_kwargs["channel_base"] // 2,
        fmap_max=G.init_kwargs["channel_max"],
        mapping_layers=2,
        architecture="skip",
    )

    def make(name):
        return Network(
            name,
            top,
            {"mapping": Network("G_mapping", mapping, {}, {}), "synthesis": Network("G_synthesis", synthesis, {}, {})},
            kwargs,
        )

    path = tmp_path / "stylegan2-car-config-f.pkl"
    with open(path, "wb") as f:
        pickle.dump((make("G"), make("D"), make("Gs")), f, protocol=4)
    assert detect_format(path) == "nvlabs-tf-pickle"
    G2 = load_generator(path)
    for key, value in G.state_dict().items():
        torch.testing.assert_close(G2.state_dict()[key], value, rtol=0, atol=1e-6, msg=key)
    ws = random_ws(G)
    torch.testing.assert_close(G2.synthesis(ws), G.synthesis(ws), rtol=0, atol=1e-5)


# ----------------------------------------------------------------------------- mmagic / rosinality


def test_mmagic_state_dict_round_trip(G, tmp_path):
    sd = export_mmagic_state_dict(G)
    assert "generator_ema.module.constant_input.input" in sd
    assert sd["generator_ema.module.convs.0.conv.weight_orig"].shape[0] == 1
    assert sd["generator_ema.module.to_rgbs.0.bias"].shape == (1, 3, 1, 1)
    # A realistic file also holds the non-EMA generator, a discriminator and FIR kernels.
    noisy = {k.replace("generator_ema.module.", "generator."): torch.randn_like(v) for k, v in sd.items()}
    extra = {
        "discriminator.convs.0.0.weight": torch.randn(4, 3, 1, 1),
        "generator_ema.module.convs.0.conv.blur.kernel": torch.ones(4, 4) / 4,
        "generator_ema.module.to_rgbs.0.upsample.kernel": torch.ones(4, 4),
        "generator_ema.module.injected_noise_0": torch.randn(1, 1, 4, 4),
        "generator_ema.steps": torch.tensor(3),
    }
    path = tmp_path / "stylegan2_lions_512_pytorch_mmagic.pth"
    torch.save({**noisy, **sd, **extra}, path)
    assert detect_format(path) == "mmagic"
    G2 = load_generator(path)
    for key, value in G.state_dict().items():
        if not key.endswith("noise_const"):
            assert torch.equal(G2.state_dict()[key], value), key
    ws = random_ws(G)
    assert torch.equal(G2.synthesis(ws, noise_mode="none"), G.synthesis(ws, noise_mode="none"))
    # mmagic stores no usable const noise: it is mmagic's fixed_noise (seed 1024), the same in every load.
    b8 = G2.synthesis.b8.conv0.noise_const
    assert torch.equal(b8, torch.randn([1, 1, 8, 8], generator=torch.Generator().manual_seed(MMAGIC_NOISE_SEED))[0, 0])
    assert torch.equal(load_generator(path).synthesis(ws), G2.synthesis(ws))


def test_mmagic_without_w_avg_uses_mapped_mean(G, tmp_path):
    sd = export_mmagic_state_dict(G, prefix="")
    del sd["w_avg"]
    path = tmp_path / "m.pth"
    torch.save({"state_dict": sd}, path)
    G2 = load_generator(path)
    expected = G2.mean_w(num_samples=4096, seed=0)[0][0]
    torch.testing.assert_close(G2.mapping.w_avg, expected)
    assert (G2.mapping.w_avg - G.mapping.w_avg).abs().max() < 0.5  # G's own w_avg is a 512-sample mean


def test_rosinality_checkpoint_round_trip(G, tmp_path):
    ckpt = export_rosinality_checkpoint(G)
    assert ckpt["g_ema"]["noises.noise_0"].shape == (1, 1, 4, 4)
    assert ckpt["g_ema"]["style.1.weight"].shape == G.mapping.fc0.weight.shape
    ckpt["g_ema"]["convs.0.conv.blur.kernel"] = torch.ones(4, 4)  # FIR buffers are ignored
    ckpt["args"] = __import__("argparse").Namespace(size=32)  # rosinality's train.py saves its args
    path = tmp_path / "550000.pt"
    torch.save(ckpt, path)
    assert detect_format(path) == "rosinality"
    G2 = load_generator(path)
    assert_same_weights(G, G2)
    ws = random_ws(G)
    assert torch.equal(G2.synthesis(ws, noise_mode="const"), G.synthesis(ws, noise_mode="const"))


def test_rosinality_without_latent_avg(G, tmp_path):
    ckpt = export_rosinality_checkpoint(G)
    path = tmp_path / "r.pt"
    torch.save({"g_ema": ckpt["g_ema"]}, path)
    G2 = load_generator(path)
    torch.testing.assert_close(G2.mapping.w_avg, G2.mean_w(num_samples=4096, seed=0)[0][0])


def test_nvlabs_state_dict_with_prefix(G, tmp_path):
    path = tmp_path / "g_ema.pth"
    torch.save({"state_dict": {f"G_ema.{k}": v for k, v in G.state_dict().items()}}, path)
    assert detect_format(path) == "nvlabs-state-dict"
    assert_same_weights(G, load_generator(path))


def test_infer_config_from_shapes(tiny_generator_factory):
    G = tiny_generator_factory(img_resolution=64, channel_max=48, c_dim=2, mapping_layers=3)
    cfg = infer_config(G.state_dict())
    G2 = Generator(**cfg)
    assert {k: v.shape for k, v in G2.state_dict().items()} == {k: v.shape for k, v in G.state_dict().items()}
    assert (cfg["z_dim"], cfg["c_dim"], cfg["w_dim"], cfg["mapping_layers"]) == (32, 2, 32, 3)
    with pytest.raises(CheckpointError, match="mapping.fc0.weight"):
        infer_config({})
