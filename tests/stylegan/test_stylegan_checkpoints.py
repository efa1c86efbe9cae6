"""Checkpoint formats: native, NVlabs pickles (safe loading), mmagic, rosinality, TF; error handling."""

from __future__ import annotations

import collections
import os
import pickle
import sys
import types
import zipfile

import numpy as np
import pytest
import torch

from stylegan import (
    CheckpointError,
    DragPipelineError,
    Generator,
    detect_format,
    export_mmagic_state_dict,
    export_rosinality_checkpoint,
    generator_from_dict,
    generator_to_dict,
    infer_config,
    load_generator,
    save_generator,
)
from stylegan.checkpoints import MMAGIC_NOISE_SEED, NATIVE_FORMAT


def _assert_same_weights(G1: Generator, G2: Generator) -> None:
    sd1, sd2 = G1.state_dict(), G2.state_dict()
    assert list(sd1) == list(sd2)
    for key in sd1:
        assert sd1[key].dtype == sd2[key].dtype == torch.float32, key
        assert torch.equal(sd1[key], sd2[key]), key


def _ws(G: Generator, n: int = 2, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return G.mapping(torch.randn(n, G.z_dim, generator=gen)) + 0.2 * torch.randn(n, G.num_ws, G.w_dim, generator=gen)


@pytest.fixture
def G(tiny_generator_factory) -> Generator:
    # Non-zero noise strengths so that the const noise buffers matter.
    return tiny_generator_factory(img_resolution=32, noise_strength=0.3)


# ----------------------------------------------------------------------------- native


def test_native_round_trip_is_bit_exact(G, tmp_path):
    path = save_generator(G, tmp_path / "g.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["g.pt"]  # no temp file left behind
    G2 = load_generator(path)
    _assert_same_weights(G, G2)
    assert G2.init_kwargs == G.init_kwargs
    assert not G2.training and not any(p.requires_grad for p in G2.parameters())
    ws = _ws(G)
    assert torch.equal(G2.synthesis(ws, noise_mode="const"), G.synthesis(ws, noise_mode="const"))
    assert torch.equal(G2.mapping.w_avg, G.mapping.w_avg)


def test_native_file_is_plain_weights_only_data(G, tmp_path):
    path = save_generator(G, tmp_path / "g.pt")
    data = torch.load(path, weights_only=True)
    assert data["format"] == NATIVE_FORMAT and data["version"] == 1
    assert data["config"] == G.init_kwargs
    assert set(data["state_dict"]) == set(G.state_dict())


def test_native_half_stores_fp16_and_loads_fp32(G, tmp_path):
    full = save_generator(G, tmp_path / "full.pt")
    half = save_generator(G, tmp_path / "half.pt", half=True)
    assert os.path.getsize(half) < 0.6 * os.path.getsize(full)
    assert all(t.dtype == torch.float16 for t in torch.load(half, weights_only=True)["state_dict"].values())
    G2 = load_generator(half)
    for key, value in G2.state_dict().items():
        assert value.dtype == torch.float32
        assert torch.equal(value, G.state_dict()[key].half().float()), key


def test_format_is_detected_from_content_not_name(G, tmp_path):
    misleading = tmp_path / "stylegan2-ffhq-1024x1024.pkl"
    save_generator(G, misleading)
    assert detect_format(misleading) == "native"
    _assert_same_weights(G, load_generator(misleading))


def test_load_to_device_and_map_location_alias(G, tmp_path):
    path = save_generator(G, tmp_path / "g.pt")
    assert load_generator(path, device="cpu").device.type == "cpu"
    assert load_generator(path, device="auto").device.type in ("cpu", "cuda", "mps")
    assert load_generator(path, map_location=torch.device("cpu")).device.type == "cpu"


def test_load_does_not_touch_global_rng(G, tmp_path):
    path = save_generator(G, tmp_path / "g.pt")
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    load_generator(path)
    assert torch.equal(torch.rand(3), expected)


# ----------------------------------------------------------------------------- NVlabs pickles

DUMMY_MODULE_SRC = "raise SystemExit('the embedded source code was executed')\n"


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


def test_nvlabs_pickle_loads_bit_exact_without_executing_source(G, nvlabs_pickler, tmp_path):
    path = nvlabs_pickler(tmp_path / "network-snapshot-000000.pkl", G)
    raw = path.read_bytes()
    assert b"_reconstruct_persistent_obj" in raw and DUMMY_MODULE_SRC.encode() in raw
    sys.modules.pop("torch_utils.persistence")  # the loader must not need (or import) it
    assert detect_format(path) == "nvlabs-pickle"
    G2 = load_generator(path)
    _assert_same_weights(G, G2)
    ws = _ws(G)
    assert torch.equal(G2.synthesis(ws), G.synthesis(ws))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_nvlabs_pickle_protocols_and_conditional(tiny_generator_factory, nvlabs_pickler, tmp_path, protocol):
    G = tiny_generator_factory(img_resolution=16, c_dim=3, conv_clamp=256.0, num_fp16_res=2)
    path = tmp_path / "x.pkl"
    nvlabs_pickler(path, G, protocol=protocol)
    G2 = load_generator(path)
    _assert_same_weights(G, G2)
    for key in ("c_dim", "conv_clamp", "num_fp16_res", "channel_base", "channel_max", "mapping_layers"):
        assert G2.init_kwargs[key] == G.init_kwargs[key], key


def test_bare_persistent_generator_pickle(G, nvlabs_pickler, tmp_path):
    path = nvlabs_pickler(tmp_path / "g.bin", G, top_level_G=True)
    _assert_same_weights(G, load_generator(path))


class _Payload:
    """Pickles as a call of `func(*args)` — what a malicious checkpoint would contain."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def _payloads(target):
    import builtins
    import subprocess

    return {
        "os.system": _Payload(os.system, (f"touch {target}",)),
        "builtins.open": _Payload(builtins.open, (str(target), "w")),
        "builtins.eval": _Payload(builtins.eval, (f"open({str(target)!r}, 'w')",)),
        "builtins.exec": _Payload(builtins.exec, (f"open({str(target)!r}, 'w')",)),
        "subprocess.Popen": _Payload(subprocess.Popen, (["touch", str(target)],)),
    }


@pytest.mark.parametrize("name", ["os.system", "builtins.open", "builtins.eval", "builtins.exec", "subprocess.Popen"])
def test_malicious_nvlabs_pickle_is_refused_and_runs_nothing(G, nvlabs_pickler, tmp_path, name):
    target = tmp_path / "pwned"
    payload = _payloads(target)[name]
    path = nvlabs_pickler(tmp_path / "evil.pkl", G, extra={"D": payload})
    with pytest.raises(CheckpointError) as info:
        load_generator(path)
    message = str(info.value)
    assert "evil.pkl" in message and name.split(".")[-1] in message and "\n" not in message
    assert not target.exists()


def test_malicious_plain_pickle_is_refused(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_payloads(target)["os.system"]))
    with pytest.raises(CheckpointError, match="posix.system|os.system|nt.system"):
        load_generator(path)
    assert not target.exists()


def test_malicious_torch_save_file_is_refused(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "hook": _payloads(target)["os.system"]}, path)
    with pytest.raises(CheckpointError, match="evil.pt.*system"):
        load_generator(path)
    assert not target.exists()


def test_stylegan3_records_are_refused(G, nvlabs_pickler, tmp_path):
    G.synthesis.input = torch.nn.Module()  # what a StyleGAN3 synthesis network has
    G.synthesis.input.register_buffer("transform", torch.eye(3))
    path = nvlabs_pickler(tmp_path / "sg3.pkl", G)
    with pytest.raises(CheckpointError, match="StyleGAN3"):
        load_generator(path)


def test_non_skip_architecture_is_refused(G, nvlabs_pickler, tmp_path):
    G.synthesis.b4.architecture = "resnet"  # recorded in the block's state, as NVlabs does
    path = nvlabs_pickler(tmp_path / "resnet.pkl", G)
    with pytest.raises(CheckpointError, match="architecture 'resnet'"):
        load_generator(path)


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
    ws = _ws(G)
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
    ws = _ws(G)
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
    _assert_same_weights(G, G2)
    ws = _ws(G)
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
    _assert_same_weights(G, load_generator(path))


def test_infer_config_from_shapes(tiny_generator_factory):
    G = tiny_generator_factory(img_resolution=64, channel_max=48, c_dim=2, mapping_layers=3)
    cfg = infer_config(G.state_dict())
    G2 = Generator(**cfg)
    assert {k: v.shape for k, v in G2.state_dict().items()} == {k: v.shape for k, v in G.state_dict().items()}
    assert (cfg["z_dim"], cfg["c_dim"], cfg["w_dim"], cfg["mapping_layers"]) == (32, 2, 32, 3)
    with pytest.raises(CheckpointError, match="mapping.fc0.weight"):
        infer_config({})


# ----------------------------------------------------------------------------- broken and wrong files


def _check_error(path, *fragments):
    with pytest.raises(CheckpointError) as info:
        load_generator(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert isinstance(info.value, DragPipelineError)
    return message


def test_missing_file(tmp_path):
    _check_error(tmp_path / "nope.pkl", "not found")


@pytest.mark.parametrize(
    "content", [b"", b"hello world, not a checkpoint\n", b"\x89PNG\r\n\x1a\n" + bytes(64), b'{"weights": [1, 2, 3]}']
)
def test_garbage_files(tmp_path, content):
    path = tmp_path / "g.pkl"
    path.write_bytes(content)
    _check_error(path)


def test_zip_that_is_not_a_torch_file(tmp_path):
    path = tmp_path / "g.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    _check_error(path, "torch.save")


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.97])
def test_truncated_native_file(G, tmp_path, fraction):
    path = save_generator(G, tmp_path / "g.pt")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    _check_error(path, "truncated or corrupt")


@pytest.mark.parametrize("fraction", [0.3, 0.9])
def test_truncated_nvlabs_pickle(G, nvlabs_pickler, tmp_path, fraction):
    path = nvlabs_pickler(tmp_path / "g.pkl", G)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    _check_error(path, "truncated or corrupt")


def test_unrecognised_torch_file(tmp_path):
    path = tmp_path / "g.pt"
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}}, path)
    _check_error(path, "not a recognised StyleGAN2 checkpoint")


def _native_with(G, tmp_path, edit):
    path = save_generator(G, tmp_path / "g.pt")
    data = torch.load(path, weights_only=True)
    edit(data["state_dict"])
    torch.save(data, path)
    return path


def test_native_missing_extra_and_misshaped_tensors(G, tmp_path):
    path = _native_with(G, tmp_path, lambda sd: sd.pop("synthesis.b16.conv1.bias"))
    _check_error(path, "native", "missing tensor", "synthesis.b16.conv1.bias")
    path = _native_with(G, tmp_path, lambda sd: sd.__setitem__("synthesis.b16.extra", torch.zeros(1)))
    _check_error(path, "unexpected tensor", "synthesis.b16.extra")
    path = _native_with(G, tmp_path, lambda sd: sd.__setitem__("mapping.fc1.bias", torch.zeros(7)))
    _check_error(path, "mis-shaped", "mapping.fc1.bias")


def test_mmagic_and_rosinality_broken_tensors(G, tmp_path):
    sd = export_mmagic_state_dict(G)
    del sd["generator_ema.module.convs.1.activate.bias"]
    path = tmp_path / "m.pth"
    torch.save(sd, path)
    _check_error(path, "mmagic", "missing tensor", "convs.1.activate.bias")
    sd = export_mmagic_state_dict(G)
    sd["generator_ema.module.convs.0.conv.weight_orig"] = torch.zeros(2, 3, 3)
    torch.save(sd, path)
    _check_error(path, "mmagic", "mis-shaped", "convs.0.conv.weight_orig")
    ckpt = export_rosinality_checkpoint(G)
    ckpt["g_ema"]["convs.2.conv.modulation.weight"] = torch.zeros(3, 3)
    path = tmp_path / "r.pt"
    torch.save(ckpt, path)
    _check_error(path, "rosinality", "mis-shaped", "convs.2.conv.modulation.weight")
    ckpt = export_rosinality_checkpoint(G)
    ckpt["g_ema"]["convs.2.surprise"] = torch.zeros(3)
    torch.save(ckpt, path)
    _check_error(path, "rosinality", "unexpected", "convs.2.surprise")


def test_nvlabs_pickle_with_missing_tensor(G, nvlabs_pickler, tmp_path):
    del G.synthesis.b8.conv0._parameters["bias"]
    G.synthesis.b8.conv0.bias = None
    path = nvlabs_pickler(tmp_path / "g.pkl", G)
    _check_error(path, "NVlabs network pickle", "missing tensor", "synthesis.b8.conv0.bias")


def test_save_rejects_non_generator(tmp_path):
    with pytest.raises(TypeError):
        save_generator(torch.nn.Linear(2, 2), tmp_path / "x.pt")
    assert not any(tmp_path.iterdir())


def test_numpy_content_in_pickles_is_allowed(G, nvlabs_pickler, tmp_path):
    # NVlabs modules keep numpy scalars (e.g. np.sqrt gains) and training kwargs hold arrays.
    G.synthesis.b4.conv1.some_gain = np.float64(0.5)
    path = nvlabs_pickler(tmp_path / "np.pkl", G, extra={"stats": np.arange(6, dtype=np.float32).reshape(2, 3)})
    _assert_same_weights(G, load_generator(path))


def test_native_metadata_round_trips_and_follows_copies(tmp_path, tiny_G):
    import copy

    G = copy.deepcopy(tiny_G)
    assert G.metadata == {}
    G.metadata = {"face_preset": "utkface", "kimg": 130.0}
    path = save_generator(G, tmp_path / "g.pt", half=True)
    loaded = load_generator(path)
    assert loaded.metadata == {"face_preset": "utkface", "kimg": 130.0}
    assert torch.load(path, weights_only=True)["metadata"] == loaded.metadata  # a plain entry of the file
    assert generator_from_dict(generator_to_dict(copy.deepcopy(loaded))).metadata == loaded.metadata
    # An explicit argument wins; files without metadata load with {}.
    assert load_generator(save_generator(G, tmp_path / "h.pt", metadata={})).metadata == {}
    with pytest.raises(ValueError, match="plain value"):
        save_generator(G, tmp_path / "bad.pt", metadata={"preset": ["utkface"]})


def test_native_file_with_bad_metadata_is_refused(tmp_path, tiny_G):
    payload = generator_to_dict(tiny_G)
    payload["metadata"] = {"face_preset": object.__name__, "x": [1]}
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="metadata"):
        load_generator(tmp_path / "bad.pt")


def test_shipped_face_model_records_its_framing():
    from pathlib import Path

    import stylegan

    G = load_generator(Path(stylegan.__file__).parent / "data" / "face64-fp16.pt")
    assert G.metadata["face_preset"] == "utkface" and G.img_resolution == 64
