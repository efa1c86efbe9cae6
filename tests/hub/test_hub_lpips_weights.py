"""LPIPS backbones go through the same verified download as checkpoints (file:// URLs only, no network)."""

from __future__ import annotations

import hashlib

import pytest

from common.errors import MissingWeightsError
from hub import lpips_weights as weights


def _serve(tmp_path, monkeypatch, content: bytes, prefix: str):
    """A local 'torchvision' AlexNet file named alexnet-<prefix>.pth, and a cache folder to download into."""
    remote = tmp_path / "remote" / f"alexnet-{prefix}.pth"
    remote.parent.mkdir()
    remote.write_bytes(content)
    cached = tmp_path / "hub" / "checkpoints" / remote.name
    monkeypatch.setattr(weights, "torchvision_weights_url", lambda net: remote.as_uri())
    monkeypatch.setattr(weights, "torchvision_cache_path", lambda net: cached)
    monkeypatch.setattr(weights, "packaged_backbone", lambda net: None)
    return cached


def test_backbone_whose_name_carries_its_sha256_prefix_lands(tmp_path, monkeypatch):
    content = b"backbone weights" * 100
    cached = _serve(tmp_path, monkeypatch, content, hashlib.sha256(content).hexdigest()[:8])
    assert weights.ensure_lpips_backbones(["alex"], progress=False) == [str(cached)]
    assert cached.read_bytes() == content


def test_backbone_with_a_wrong_sha256_prefix_is_refused_and_removed(tmp_path, monkeypatch):
    content = b"corrupted backbone" * 100
    cached = _serve(tmp_path, monkeypatch, content, "0123abcd")
    with pytest.raises(MissingWeightsError) as info:
        weights.ensure_lpips_backbones(["alex"], progress=False)
    assert "0123abcd" in str(info.value) and hashlib.sha256(content).hexdigest() in str(info.value)
    assert list(cached.parent.iterdir()) == []


def test_torchvision_file_names_give_their_hash_prefix():
    assert weights.torchvision_sha256_prefix("https://x/squeezenet1_1-b8a52dc0.pth") == "b8a52dc0"
    assert weights.torchvision_sha256_prefix("https://x/model.pth") is None


def test_a_given_backbone_is_only_checked_never_downloaded(monkeypatch):
    import torch.hub

    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("network touched"))
    assert weights.ensure_lpips_backbones(["alex", "squeeze"], "random", progress=False) == ["random", "random"]
    assert weights.ensure_lpips_backbones([], progress=False) == []
