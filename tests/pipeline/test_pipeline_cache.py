"""The inversion cache (pipeline/cache.py): what enters the key, weight hashes, and unreadable entries."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from common.hashing import generator_sha256
from inversion import InversionConfig
from pipeline.cache import InversionCache, crop_sha256, inversion_key


def test_inversion_key_tracks_what_changes_the_result(tiny_G):
    crop = np.zeros((32, 32, 3), np.uint8)
    cfg = InversionConfig(w_steps=3)
    gid = "state:" + generator_sha256(tiny_G)
    key = inversion_key(crop, gid, "pti", cfg)
    assert key == inversion_key(crop.copy(), gid, "pti", InversionConfig(w_steps=3))
    other = crop.copy()
    other[0, 0, 0] = 1
    assert key != inversion_key(other, gid, "pti", cfg)
    assert key != inversion_key(crop, gid, "w+", cfg)
    assert key != inversion_key(crop, gid, "pti", dataclasses.replace(cfg, w_steps=4))
    assert key != inversion_key(crop, "state:other", "pti", cfg)


def test_backbone_file_enters_the_key_by_content(tmp_path):
    crop = np.zeros((32, 32, 3), np.uint8)
    a, b = tmp_path / "a.pth", tmp_path / "b.pth"
    a.write_bytes(b"same")
    b.write_bytes(b"same")
    ka = inversion_key(crop, "g", "w", InversionConfig(lpips_backbone=str(a)))
    assert ka == inversion_key(crop, "g", "w", InversionConfig(lpips_backbone=str(b)))
    b.write_bytes(b"different")
    assert ka != inversion_key(crop, "g", "w", InversionConfig(lpips_backbone=str(b)))


def test_generator_hash_sees_every_weight(tiny_generator_factory):
    G = tiny_generator_factory(seed=1)
    h = generator_sha256(G)
    assert h == generator_sha256(tiny_generator_factory(seed=1))
    with torch.no_grad():
        G.synthesis.b4.const[0, 0, 0] += 1e-3
    assert generator_sha256(G) != h
    assert crop_sha256(np.zeros((2, 2, 3), np.uint8)) != crop_sha256(np.zeros((2, 3, 2), np.uint8))


def test_unreadable_or_unusable_entries_are_misses(tmp_path, tiny_G):
    cache = InversionCache(tmp_path / "cache")
    key = "ab" + "0" * 62
    assert cache.get(key, tiny_G) is None  # absent
    cache.path(key).parent.mkdir(parents=True)
    cache.path(key).write_bytes(b"garbage")
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cache.get(key, tiny_G) is None  # corrupt: recomputed, with a warning
    assert any("unreadable inversion cache entry" in str(w.message) for w in caught)
    too_long = InversionCache(tmp_path / ("x" * 300))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert too_long.get(key, tiny_G) is None  # a path the OS refuses is a miss, not a crash


def test_the_key_tells_the_device_and_precision_apart(monkeypatch):
    import torch

    from pipeline.cache import compute_signature

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Fake GPU")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert compute_signature(torch.device("cpu")) is None  # CPU keys are those written before the field
    assert compute_signature(torch.device("mps")) == "mps"
    fp32 = compute_signature(torch.device("cuda", 0), fp16_blocks=0, tf32=(False, False))
    assert fp32 == "cuda|Fake GPU|fp16_blocks=0|tf32=0,0"
    fp16 = compute_signature(torch.device("cuda", 1), fp16_blocks=4, tf32=(False, True))
    crop = np.zeros((8, 8, 3), np.uint8)
    keys = {inversion_key(crop, "g", "pti", InversionConfig(), compute=c) for c in (None, "mps", fp32, fp16)}
    assert len(keys) == 4  # a GPU run never reuses a CPU inversion, nor fp16 blocks an fp32 one
    assert inversion_key(crop, "g", "pti", InversionConfig()) == inversion_key(
        crop, "g", "pti", InversionConfig(), compute=None
    )
