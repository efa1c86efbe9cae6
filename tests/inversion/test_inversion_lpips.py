"""LPIPS built offline: backbone lookup, key renaming, clear errors, distance equal to lpips.LPIPS."""

from __future__ import annotations

from pathlib import Path

import lpips
import pytest
import torch
import torchvision

from common.errors import CheckpointError, MissingWeightsError
from inversion import lpips_loss as L
from inversion.errors import InversionError
from inversion.lpips_loss import LPIPSLoss, build_lpips, resolve_backbone


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """torch.hub's cache redirected to an empty folder."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


def _images(seed=0, size=64, n=2):
    g = torch.Generator().manual_seed(seed)
    return torch.rand([n, 3, size, size], generator=g) * 2 - 1


def test_random_backbone_matches_lpips_forward():
    model = build_lpips("squeeze", "random")
    loss = LPIPSLoss(model, max_resolution=None, min_resolution=16)
    x, y = _images(0), _images(1)
    with torch.no_grad():
        ours = loss(x, y)
        reference = model(x, y).flatten()
        cached = loss(x, y_features=loss.features(y[:1]))
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(cached[0], ours[0])
    assert ours.shape == (2,) and (ours > 0).all()
    assert float(loss(x, x).abs().max()) < 1e-7


def test_random_backbone_is_reproducible():
    L.clear_cache()
    a = build_lpips("squeeze", "random").net.state_dict()
    L.clear_cache()
    b = build_lpips("squeeze", "random").net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resizing_bounds():
    loss = LPIPSLoss(build_lpips("squeeze", "random"), max_resolution=256, min_resolution=64)
    assert loss.resize(torch.zeros(1, 3, 32, 32)).shape[-2:] == (64, 64)
    assert loss.resize(torch.zeros(1, 3, 512, 512)).shape[-2:] == (256, 256)
    assert loss.resize(torch.zeros(1, 3, 128, 128)).shape[-2:] == (128, 128)


def test_missing_backbone_names_the_file_and_place(empty_hub):
    with pytest.raises(MissingWeightsError) as info:
        resolve_backbone("alex", None)
    message = str(info.value)
    assert "alexnet-owt-7be5be79.pth" in message and str(empty_hub) in message and "lpips_backbone" in message
    assert "\n" not in message


def test_packaged_squeeze_backbone_is_the_offline_fallback(empty_hub, shared_squeeze_backbone):
    # The shipped file is torchvision's ImageNet SqueezeNet 1.1 features, byte for byte the shared one.
    path = resolve_backbone("squeeze", None)
    assert Path(path).name == "squeezenet1_1_features.pth" and "inversion" in Path(path).parts
    assert Path(path).read_bytes() == Path(shared_squeeze_backbone).read_bytes()


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(MissingWeightsError, match="does not exist"):
        resolve_backbone("vgg", tmp_path / "nope.pth")
    with pytest.raises(MissingWeightsError, match="vgg16_features.pth"):
        resolve_backbone("vgg", tmp_path)
    with pytest.raises(InversionError):
        resolve_backbone("resnet", None)


def test_torchvision_cache_file_is_used(empty_hub):
    # torchvision's full model file: `features.*` and `classifier.*` keys.
    empty_hub.mkdir(parents=True)
    torch.manual_seed(3)
    net = torchvision.models.squeezenet1_1(weights=None)
    torch.save(net.state_dict(), empty_hub / "squeezenet1_1-b8a52dc0.pth")
    L.clear_cache()
    model = build_lpips("squeeze", None)
    # torchvision features.N -> lpips sliceK.N (squeeze: layer 3 in slice2, layer 12 in slice7).
    assert torch.equal(model.net.slice2._modules["3"].squeeze.weight, net.features[3].squeeze.weight)
    assert torch.equal(model.net.slice7._modules["12"].expand3x3.bias, net.features[12].expand3x3.bias)
    L.clear_cache()


def test_features_file_in_a_folder_and_renaming(tmp_path):
    torch.manual_seed(4)
    features = torchvision.models.alexnet(weights=None).features
    torch.save(features.state_dict(), tmp_path / "alexnet_features.pth")
    model = build_lpips("alex", tmp_path)
    for index, layer in enumerate(features):
        if isinstance(layer, torch.nn.Conv2d):
            slice_name = next(n for n, m in model.net.named_children() if str(index) in dict(m.named_children()))
            mine = getattr(model.net, slice_name)._modules[str(index)]
            assert torch.equal(mine.weight, layer.weight) and torch.equal(mine.bias, layer.bias)
    L.clear_cache()


def test_wrong_architecture_is_a_checkpoint_error(tmp_path):
    torch.save(torchvision.models.alexnet(weights=None).features.state_dict(), tmp_path / "alex.pth")
    with pytest.raises(CheckpointError, match="squeezenet1_1"):
        build_lpips("squeeze", tmp_path / "alex.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="cannot read"):
        build_lpips("squeeze", tmp_path / "junk.pth")


def test_shared_squeeze_backbone_loads_with_renamed_keys(squeeze_backbone):
    state = torch.load(squeeze_backbone, map_location="cpu", weights_only=True)
    model = build_lpips("squeeze", squeeze_backbone)
    net_state = model.net.state_dict()
    assert len(net_state) == len(state) == 50
    assert torch.equal(net_state["slice1.0.weight"], state["0.weight"])
    assert torch.equal(net_state["slice2.3.squeeze.weight"], state["3.squeeze.weight"])
    assert torch.equal(net_state["slice7.12.expand3x3.bias"], state["12.expand3x3.bias"])
    # A real perceptual metric: more noise, larger distance; identical images, 0.
    loss = LPIPSLoss(model, max_resolution=None)
    g = torch.Generator().manual_seed(0)
    base = torch.nn.functional.interpolate(torch.rand([1, 3, 16, 16], generator=g) * 2 - 1, size=64, mode="bilinear")
    noise = torch.randn([1, 3, 64, 64], generator=g)
    with torch.no_grad():
        d = [float(loss(base, (base + s * noise).clamp(-1, 1))) for s in (0.0, 0.05, 0.3)]
    assert d[0] < 1e-7 < d[1] < d[2]


def test_lpips_module_in_package_is_the_v01_calibration():
    model = build_lpips("squeeze", "random")
    assert isinstance(model, lpips.LPIPS) and model.version == "0.1"
    assert not any(p.requires_grad for p in model.parameters()) and not model.training
