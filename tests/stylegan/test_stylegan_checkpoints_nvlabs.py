"""NVlabs network pickles: loaded bit-exact without executing their code; malicious pickles refused."""

from __future__ import annotations

import os
import pickle
import sys

import pytest
import torch

from stylegan import CheckpointError, detect_format, load_generator
from tests.stylegan.conftest import DUMMY_MODULE_SRC, assert_same_weights, random_ws


# ----------------------------------------------------------------------------- NVlabs pickles
def test_nvlabs_pickle_loads_bit_exact_without_executing_source(G, nvlabs_pickler, tmp_path):
    path = nvlabs_pickler(tmp_path / "network-snapshot-000000.pkl", G)
    raw = path.read_bytes()
    assert b"_reconstruct_persistent_obj" in raw and DUMMY_MODULE_SRC.encode() in raw
    sys.modules.pop("torch_utils.persistence")  # the loader must not need (or import) it
    assert detect_format(path) == "nvlabs-pickle"
    G2 = load_generator(path)
    assert_same_weights(G, G2)
    ws = random_ws(G)
    assert torch.equal(G2.synthesis(ws), G.synthesis(ws))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_nvlabs_pickle_protocols_and_conditional(tiny_generator_factory, nvlabs_pickler, tmp_path, protocol):
    G = tiny_generator_factory(img_resolution=16, c_dim=3, conv_clamp=256.0, num_fp16_res=2)
    path = tmp_path / "x.pkl"
    nvlabs_pickler(path, G, protocol=protocol)
    G2 = load_generator(path)
    assert_same_weights(G, G2)
    for key in ("c_dim", "conv_clamp", "num_fp16_res", "channel_base", "channel_max", "mapping_layers"):
        assert G2.init_kwargs[key] == G.init_kwargs[key], key


def test_bare_persistent_generator_pickle(G, nvlabs_pickler, tmp_path):
    path = nvlabs_pickler(tmp_path / "g.bin", G, top_level_G=True)
    assert_same_weights(G, load_generator(path))


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
