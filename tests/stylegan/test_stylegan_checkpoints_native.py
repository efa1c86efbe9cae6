"""Native checkpoints: bit-exact round trips, plain weights-only data, fp16 storage, metadata."""

from __future__ import annotations

import os

import pytest
import torch

from stylegan import (
    CheckpointError,
    detect_format,
    generator_from_dict,
    generator_to_dict,
    load_generator,
    save_generator,
)
from stylegan.checkpoints import NATIVE_FORMAT
from tests.stylegan.conftest import assert_same_weights, random_ws

# ----------------------------------------------------------------------------- native


def test_native_round_trip_is_bit_exact(G, tmp_path):
    path = save_generator(G, tmp_path / "g.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["g.pt"]  # no temp file left behind
    G2 = load_generator(path)
    assert_same_weights(G, G2)
    assert G2.init_kwargs == G.init_kwargs
    assert not G2.training and not any(p.requires_grad for p in G2.parameters())
    ws = random_ws(G)
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
    assert_same_weights(G, load_generator(misleading))


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
