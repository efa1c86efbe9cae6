"""LPIPS (Zhang et al. 2018) built offline, as a differentiable loss on [-1, 1] images.

The `lpips` package ships the calibrated linear layers (`lin*`) but asks
torchvision for the ImageNet backbone, which downloads it on first use. Here the
`lpips.LPIPS` module is always built with a random backbone (`pnet_rand=True`,
so torchvision never downloads) and the backbone weights are then loaded from:

  * a local features state dict (`InversionConfig.lpips_backbone`), e.g.
    `torchvision.models.squeezenet1_1(...).features.state_dict()` saved with
    `torch.save` (keys `0.weight`, `3.squeeze.weight`, ...); torchvision's full
    model file (keys `features.0.weight`, ..., `classifier.*`) works too;
  * torchvision's cache, `torch.hub.get_dir()/checkpoints/<torchvision file>`,
    when that file already exists;
  * the package itself for SqueezeNet 1.1 (`inversion/data/squeezenet1_1_features.pth`,
    torchvision's ImageNet weights, 2.9 MB), so LPIPS-squeeze always works offline.

Nothing here downloads: otherwise `MissingWeightsError` says which file to put where
(the CLI's explicit download step, `hub.lpips_weights.ensure_lpips_backbones`, fills
torchvision's cache).

Key renaming: lpips splits torchvision's `features` Sequential into slices and
keeps each layer's index, so torchvision `features.N.*` is lpips `net.sliceK.N.*`
with K the slice holding layer N (e.g. squeeze `3.squeeze.weight` ->
`slice2.3.squeeze.weight`).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import lpips
import torch
import torch.nn.functional as F
from torch import nn

from common.errors import CheckpointError, MissingWeightsError
from common.paths import os_error_reason, show_path
from common.random import seeded
from inversion.config import LPIPS_NETS
from inversion.errors import InversionError

RANDOM_BACKBONE = "random"

# lpips net name -> (torchvision architecture, torchvision weights enum name).
_TORCHVISION = {
    "vgg": ("vgg16", "VGG16_Weights"),
    "alex": ("alexnet", "AlexNet_Weights"),
    "squeeze": ("squeezenet1_1", "SqueezeNet1_1_Weights"),
}

_CACHE: dict[tuple[str, str, str], lpips.LPIPS] = {}

# Backbones shipped as package data: torchvision's ImageNet `squeezenet1_1().features.state_dict()`.
_PACKAGED = {"squeeze": Path(__file__).resolve().parent / "data" / "squeezenet1_1_features.pth"}


def packaged_backbone(net: str) -> Path | None:
    """The backbone file of `net` shipped with the package ('squeeze'), or None."""
    _check_net(net)
    path = _PACKAGED.get(net)
    return path if path is not None and path.is_file() else None


def torchvision_arch(net: str) -> str:
    """torchvision architecture behind an lpips net name ('squeeze' -> 'squeezenet1_1')."""
    _check_net(net)
    return _TORCHVISION[net][0]


def torchvision_weights_url(net: str) -> str:
    """URL of torchvision's ImageNet weights for the backbone of `net`."""
    import torchvision

    _check_net(net)
    return getattr(torchvision.models, _TORCHVISION[net][1]).IMAGENET1K_V1.url


def torchvision_cache_path(net: str) -> Path:
    """Where torchvision keeps (or would download) the backbone of `net`."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(torchvision_weights_url(net))


def features_file_name(net: str) -> str:
    """Preferred file name of a features-only backbone in a `lpips_backbone` directory."""
    return f"{torchvision_arch(net)}_features.pth"


def resolve_backbone(net: str, backbone: str | os.PathLike | None = None) -> str:
    """Finds the backbone file for `net` without loading it.

    Args:
        net: 'vgg', 'alex' or 'squeeze'.
        backbone: None (torchvision's cache, else the packaged file), a file, a directory or 'random'.

    Returns:
        An absolute file path, or 'random'.

    Raises:
        MissingWeightsError: the file is not where it was looked for.
    """
    _check_net(net)
    if backbone is not None and str(backbone) == RANDOM_BACKBONE:
        return RANDOM_BACKBONE
    if backbone is not None:
        path = Path(backbone).expanduser()
        try:
            path.is_file()  # raises for a name too long or an unreadable parent (Python < 3.14)
        except (OSError, ValueError) as exc:
            reason = os_error_reason(exc) if isinstance(exc, OSError) else "not a valid path"
            raise InversionError(
                f"LPIPS backbone {show_path(path)}: {reason}; point lpips_backbone "
                f"(--lpips-backbone) at a torchvision {torchvision_arch(net)} features state dict"
            ) from None
        if path.is_dir():
            for name in (features_file_name(net), torchvision_cache_path(net).name):
                if (path / name).is_file():
                    return str((path / name).resolve())
            raise MissingWeightsError(
                f"LPIPS-{net} backbone not found in {path}: put {features_file_name(net)} (a torchvision "
                f"{torchvision_arch(net)} features state dict) or {torchvision_cache_path(net).name} there"
            )
        if path.is_file():
            return str(path.resolve())
        raise MissingWeightsError(
            f"LPIPS-{net} backbone file {path} does not exist: point lpips_backbone at a torchvision "
            f"{torchvision_arch(net)} features state dict"
        )
    cached = torchvision_cache_path(net)
    if cached.is_file():
        return str(cached)
    if packaged_backbone(net) is not None:
        return str(packaged_backbone(net))
    raise MissingWeightsError(
        f"LPIPS-{net} needs the ImageNet {torchvision_arch(net)} backbone: put {cached.name} in {cached.parent} "
        f"(from {torchvision_weights_url(net)}; run_pipeline.py downloads it), or pass lpips_backbone=PATH to "
        f"a features state dict"
    )


def load_backbone_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Reads a backbone file as a torchvision `features` state dict (keys `N.*`).

    Accepts a features-only state dict or torchvision's full model state dict
    (whose `features.` prefix is stripped and whose classifier is dropped).
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same message.
        raise CheckpointError(f"cannot read LPIPS backbone {path} ({exc}): pass a torch.save'd state dict") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(
            f"LPIPS backbone {path} is not a state dict of tensors: save `model.features.state_dict()`"
        )
    if any(k.startswith("features.") for k in state):
        state = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
    return state


def load_backbone_into(model: lpips.LPIPS, state: dict[str, torch.Tensor], source: str = "state dict") -> None:
    """Copies torchvision `features` weights into `model.net.slice*` (strict: every key must match).

    Raises:
        CheckpointError: the state dict does not belong to this backbone.
    """
    slice_of: dict[str, str] = {}
    for slice_name, module in model.net.named_children():
        for index, _ in module.named_children():
            slice_of[index] = slice_name
    renamed, unexpected = {}, []
    for key, value in state.items():
        index = key.split(".", 1)[0]
        if index in slice_of:
            renamed[f"{slice_of[index]}.{key}"] = value
        else:
            unexpected.append(key)
    expected = model.net.state_dict()
    missing = sorted(set(expected) - set(renamed))
    unexpected += sorted(set(renamed) - set(expected))
    mismatched = sorted(k for k in set(expected) & set(renamed) if expected[k].shape != renamed[k].shape)
    if missing or unexpected or mismatched:
        raise CheckpointError(
            f"{source} is not a torchvision {torchvision_arch(model.pnet_type)} features state dict "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shape {mismatched[:3]}): "
            f"pass the backbone matching lpips net '{model.pnet_type}' (two different nets need a folder holding "
            f"one <arch>_features.pth each)"
        )
    model.net.load_state_dict(renamed, strict=True)


def build_lpips(
    net: str = "vgg", backbone: str | os.PathLike | None = None, device: torch.device | str = "cpu"
) -> lpips.LPIPS:
    """An `lpips.LPIPS` module (v0.1, calibrated lin layers) with its backbone loaded offline.

    Modules are cached per (net, backbone file, device) and shared: treat them
    as read-only (eval mode, requires_grad False).

    Args:
        net: 'vgg', 'alex' or 'squeeze'.
        backbone: None, a file, a directory or 'random' (see `resolve_backbone`;
            'random' is seeded and reproducible but useless as a perceptual metric).
        device: where the module lives.

    Raises:
        MissingWeightsError: the backbone is not available offline.
        CheckpointError: the backbone file does not match `net`.
    """
    source = resolve_backbone(net, backbone)
    device = torch.device(device)
    key = (net, source, str(device))
    if key in _CACHE:
        return _CACHE[key]
    with warnings.catch_warnings(), seeded(0):
        # lpips passes torchvision's deprecated `pretrained=` argument; the random
        # trunk is seeded so that 'random' gives the same metric every time.
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
    if source != RANDOM_BACKBONE:
        load_backbone_into(model, load_backbone_state_dict(source), source)
    model = model.eval().requires_grad_(False).to(device)
    _CACHE[key] = model
    return model


def clear_cache() -> None:
    """Forgets the cached LPIPS modules (frees their memory)."""
    _CACHE.clear()


class LPIPSLoss(nn.Module):
    """LPIPS distance between [-1, 1] images, with resizing and reusable target features.

    Images larger than `max_resolution` are area-downsampled to it first (as
    NVlabs' projector does at 256 px); images smaller than `min_resolution` are
    bilinearly upsampled to it, so that the deepest backbone layers still see
    more than one pixel (32-px test generators).
    """

    def __init__(self, model: lpips.LPIPS, max_resolution: int | None = 256, min_resolution: int = 64):
        super().__init__()
        self.model = model
        self.max_resolution = max_resolution
        self.min_resolution = min_resolution

    @classmethod
    def build(
        cls,
        net: str = "vgg",
        backbone: str | os.PathLike | None = None,
        device: torch.device | str = "cpu",
        max_resolution: int | None = 256,
        min_resolution: int = 64,
    ) -> LPIPSLoss:
        """`build_lpips` wrapped in an `LPIPSLoss`."""
        return cls(build_lpips(net, backbone, device), max_resolution, min_resolution)

    def resize(self, img: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 3, H', W') within [min_resolution, max_resolution] on the long/short side."""
        h, w = img.shape[-2:]
        if self.max_resolution is not None and max(h, w) > self.max_resolution:
            s = self.max_resolution / max(h, w)
            img = F.interpolate(img, size=(max(1, round(h * s)), max(1, round(w * s))), mode="area")
            h, w = img.shape[-2:]
        if min(h, w) < self.min_resolution:
            s = self.min_resolution / min(h, w)
            img = F.interpolate(img, size=(round(h * s), round(w * s)), mode="bilinear", align_corners=False)
        return img

    def features(self, img: torch.Tensor) -> list[torch.Tensor]:
        """Unit-normalised backbone activations of (B, 3, H, W) images in [-1, 1]."""
        if img.ndim != 4 or img.shape[1] != 3:
            raise ValueError(f"LPIPS expects (B, 3, H, W) images, got {tuple(img.shape)}")
        x = self.model.scaling_layer(self.resize(img.to(torch.float32)))
        return [lpips.normalize_tensor(f) for f in self.model.net(x)]

    def distance(self, feats_x: list[torch.Tensor], feats_y: list[torch.Tensor]) -> torch.Tensor:
        """LPIPS from two feature lists (batch sizes broadcast); returns (B,)."""
        total = 0
        for lin, fx, fy in zip(self.model.lins, feats_x, feats_y):
            total = total + lin((fx - fy).square()).mean(dim=(2, 3))
        return total.flatten()

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None = None, *, y_features: list[torch.Tensor] | None = None
    ) -> torch.Tensor:
        """LPIPS(x, y) for (B, 3, H, W) images in [-1, 1]; pass `y_features` to reuse a target's.

        Returns:
            (B,) float32 distances (0 for identical images).
        """
        if (y is None) == (y_features is None):
            raise ValueError("pass exactly one of y or y_features")
        if y_features is None:
            y_features = self.features(y)
        return self.distance(self.features(x), y_features)


def _check_net(net: str) -> None:
    if net not in LPIPS_NETS:
        raise InversionError(f"LPIPS net must be one of {LPIPS_NETS}, got {net!r}")
