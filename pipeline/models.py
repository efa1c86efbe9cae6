"""A loaded generator (`LoadedModel`), the one record of it that the command line, batch jobs and
the editor share, and `Models`, the process's cache of them (each checkpoint loaded once).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from pipeline.config import PipelineConfig, lpips_nets_needed
from pipeline.model_defaults import config_for_model

__all__ = ["LoadedModel", "Models", "load_model"]

Log = Callable[[str], None]


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A generator ready to edit with, and where it came from.

    Attributes:
        label: the checkpoint as the user named it (registered name, file, or an injected label).
        G: the `stylegan.Generator` on its device (eval, requires_grad False in the editor, which
            shares it read-only between tabs).
        resolved: the `hub.registry.ResolvedCheckpoint` it came from; None for an injected generator.
        generator_id: its identity in the inversion cache key (None = a hash of G, or the cache is off).
        seconds: {'fetch_weights', 'load_generator'} wall-clock seconds of loading ({} when not timed).
    """

    label: str
    G: torch.nn.Module
    resolved: object | None = None
    generator_id: str | None = None
    seconds: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        """The generator's output resolution (px)."""
        return int(self.G.img_resolution)

    def checkpoint_json(self) -> dict:
        """The report's and latents.pt's 'checkpoint' entry: where the weights came from and their shape."""
        base = self.resolved.to_json() if self.resolved is not None else {"name": self.label, "path": None}
        return base | {
            "img_resolution": self.size,
            "num_ws": int(self.G.num_ws),
            "w_dim": int(self.G.w_dim),
            "metadata": dict(getattr(self.G, "metadata", {})),
        }


class Models:
    """Generators loaded once per process and reused by every job that names them.

    Args:
        config: the run's `PipelineConfig` (device, cache and LPIPS settings).
        checkpoints_dir: folder of registered checkpoints (None = default).
        allow_download: fetch missing registered weights.
        progress: download progress bars.
        log: one-line status callback.
    """

    def __init__(
        self,
        config: PipelineConfig,
        checkpoints_dir: str | None = None,
        allow_download: bool = True,
        progress: bool = True,
        log: Log | None = None,
    ):
        self.config = config
        self.checkpoints_dir = checkpoints_dir
        self.allow_download = allow_download
        self.progress = progress
        self.log = log or (lambda message: None)
        self._loaded: dict[str, LoadedModel] = {}

    def __contains__(self, checkpoint: str) -> bool:
        return checkpoint in self._loaded

    def get(self, checkpoint: str) -> LoadedModel:
        """The loaded generator of a checkpoint path or registered name (loaded on first use)."""
        if checkpoint not in self._loaded:
            self._loaded[checkpoint] = self._load(checkpoint)
        return self._loaded[checkpoint]

    def _load(self, checkpoint: str) -> LoadedModel:
        from hub.lpips_weights import ensure_lpips_backbones
        from hub.registry import domain_warning
        from pipeline.edit import resolve_device

        config = self.config
        model = load_model(checkpoint, config, self.checkpoints_dir, self.allow_download, self.progress, self.log)
        info = model.resolved.info
        warning = domain_warning(info, config.align_mode)
        if warning:
            self.log(f"warning: {warning}")
        # The LPIPS nets this model's inversion will use (LPIPS-squeeze, shipped, for small models).
        t = time.perf_counter()
        model_config = config_for_model(config, model.G, info)
        ensure_lpips_backbones(
            lpips_nets_needed(model_config),
            model_config.inversion.lpips_backbone,
            allow_download=self.allow_download,
            progress=self.progress,
            log=self.log,
        )
        model.seconds["fetch_weights"] += time.perf_counter() - t
        self.log(
            f"load: {model.resolved.label} ({model.size}px{', ' + info.domain if info else ''}) on "
            f"{resolve_device(config.device)} ({model.seconds['load_generator']:.1f}s)"
        )
        return model


def load_model(
    checkpoint: str,
    config: PipelineConfig,
    checkpoints_dir: str | None = None,
    allow_download: bool = True,
    progress: bool = True,
    log: Log | None = None,
    label: str | None = None,
) -> LoadedModel:
    """Resolve (download if needed) and load a checkpoint onto `config.device`, with its cache identity.

    Args:
        checkpoint: a registered name or a generator file.
        config: `device`, `use_cache` and `cache_dir` are used (the identity's file-hash memo).
        checkpoints_dir: folder of registered checkpoints (None = default).
        allow_download: fetch missing registered weights.
        progress: download progress bars.
        log: one-line status callback.
        label: the name the user knows it by (None = `checkpoint`).

    Returns:
        `LoadedModel` with `seconds` {'fetch_weights', 'load_generator'}.
    """
    from hub.registry import load_checkpoint, resolve_checkpoint
    from pipeline.edit import resolve_device
    from pipeline.seeds import generator_identity

    t = time.perf_counter()
    resolved = resolve_checkpoint(
        checkpoint, checkpoints_dir, allow_download=allow_download, progress=progress, log=log
    )
    seconds = {"fetch_weights": time.perf_counter() - t}
    t = time.perf_counter()
    G = load_checkpoint(resolved, device=str(resolve_device(config.device)))
    generator_id = generator_identity(resolved, G, config)  # the inversion cache's key for the weights
    seconds["load_generator"] = time.perf_counter() - t
    return LoadedModel(label=label or checkpoint, G=G, resolved=resolved, generator_id=generator_id, seconds=seconds)
