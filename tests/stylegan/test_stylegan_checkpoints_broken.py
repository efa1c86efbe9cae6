"""Broken and wrong checkpoint files: one clear CheckpointError each."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch

from stylegan import (
    CheckpointError,
    DragPipelineError,
    export_mmagic_state_dict,
    export_rosinality_checkpoint,
    load_generator,
    save_generator,
)
from tests.stylegan.conftest import assert_same_weights

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
    assert_same_weights(G, load_generator(path))
