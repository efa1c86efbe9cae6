"""The explicit, user-visible download step for LPIPS backbones (the CLI's, never a compute function's).

LPIPS needs an ImageNet backbone (VGG16 / AlexNet / SqueezeNet 1.1) that torchvision keeps
in its cache (`torch.hub.get_dir()/checkpoints/`); SqueezeNet 1.1 also ships with the package
(`inversion.lpips_loss.packaged_backbone`). `inversion` never downloads it on its
own; before running, the CLI calls `ensure_lpips_backbones`, which downloads missing files
into that cache with a progress bar (unless offline) through `hub.registry.download_file`
(checked against the SHA-256 prefix in torchvision's file name), or raises
`MissingWeightsError` saying which file to put where.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from common.errors import MissingWeightsError
from hub.registry import download_file, is_offline
from inversion.lpips_loss import (
    features_file_name,
    packaged_backbone,
    resolve_backbone,
    torchvision_arch,
    torchvision_cache_path,
    torchvision_weights_url,
)

__all__ = ["ensure_lpips_backbones", "torchvision_sha256_prefix"]


def torchvision_sha256_prefix(url: str) -> str | None:
    """The SHA-256 prefix torchvision puts in its weight file names ('squeezenet1_1-b8a52dc0.pth' -> 'b8a52dc0').

    torchvision publishes its weights under names `<arch>-<first hex digits of the SHA-256>.pth`
    and checks them with `torch.hub.HASH_REGEX`; the same prefix verifies our download.
    """
    import torch.hub

    match = torch.hub.HASH_REGEX.search(url.rsplit("/", 1)[-1])
    return match.group(1) if match and len(match.group(1)) >= 8 else None


def ensure_lpips_backbones(
    nets: Sequence[str],
    backbone: str | None = None,
    allow_download: bool = True,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> list[str]:
    """Make sure the backbone of every LPIPS net in `nets` is on disk, downloading into torchvision's cache.

    With `backbone` set (a file, a folder or 'random') nothing is downloaded; the files are
    only checked.

    Args:
        nets: the LPIPS nets that will be built ('vgg', 'alex', 'squeeze'; e.g.
            `pipeline.config.lpips_nets_needed(config)`).
        backbone: `InversionConfig.lpips_backbone` (`--lpips-backbone`): a features file, a
            folder of them, 'random', or None = torchvision's cache / the packaged file.
        allow_download: False = never touch the network (also forced by env DRAGGAN_OFFLINE=1).
        progress: progress bar for downloads.
        log: optional callable(str) for one-line status messages.

    Returns:
        The backbone file of each net (or 'random'), in `nets` order.

    Raises:
        MissingWeightsError: a backbone is absent and cannot be downloaded.
    """
    files = []
    for net in nets:
        if backbone is not None:
            files.append(resolve_backbone(net, backbone))
            continue
        cached = torchvision_cache_path(net)
        if cached.is_file():
            files.append(str(cached))
            continue
        if packaged_backbone(net) is not None:  # LPIPS-squeeze ships with the package
            files.append(str(packaged_backbone(net)))
            continue
        url = torchvision_weights_url(net)
        hint = (
            f"save {url} as {cached}, or pass --lpips-backbone FILE with a torchvision "
            f"{torchvision_arch(net)} features state dict (e.g. {features_file_name(net)}), "
            f"or use --lpips-net squeeze with a squeezenet1_1 features file"
        )
        if not allow_download or is_offline():
            raise MissingWeightsError(
                f"LPIPS-{net} backbone {cached.name} is not in {cached.parent} and downloads are disabled "
                f"(--offline / DRAGGAN_OFFLINE); {hint}"
            )
        if log is not None:
            log(f"downloading the LPIPS-{net} backbone ({torchvision_arch(net)}) to {cached}")
        try:
            download_file(url, cached, sha256=torchvision_sha256_prefix(url), progress=progress, what=cached.name)
        except MissingWeightsError as exc:
            raise MissingWeightsError(f"LPIPS-{net} backbone could not be downloaded ({exc}); {hint}") from exc
        files.append(str(cached))
    return files
