"""`TrainConfig`: everything that determines a training run (`training.train`).

Defaults follow StyleGAN2 / StyleGAN2-ADA (NVlabs stylegan2-ada-pytorch `train.py` 'auto'
config, `training/training_loop.py`); see each field's comment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from align import AlignConfig
from align.errors import AlignError
from common.configs import config_from_dict, config_to_dict
from training.augment import DEFAULT_POLICY, parse_policy
from training.errors import PrepareError, TrainError

__all__ = ["TrainConfig", "PrepareConfig", "r1_gamma_heuristic", "AMP_MODES"]

AMP_MODES = ("auto", "bf16", "off")


def r1_gamma_heuristic(resolution: int, batch: int) -> float:
    """R1 weight of StyleGAN2-ADA's 'auto' config: 0.0002 * resolution^2 / batch.

    (NVlabs stylegan2-ada-pytorch train.py, cfg 'auto'; 0.1024 at 128 px, batch 32.)
    """
    return 0.0002 * resolution**2 / batch


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (vary with `dataclasses.replace`)."""

    # --- networks ---------------------------------------------------------------------
    resolution: int = 128  # image side, a power of two
    z_dim: int = 256  # 256 instead of 512: enough for a 10k-image face set, halves every
    w_dim: int = 256  # affine layer (and DragGAN's W+ variables); NVlabs uses 512 at 1-70k images
    mapping_layers: int = 4  # NVlabs: 8 (paper), 2 ('auto' small-data config); 4 in between
    channel_base: int = 8192  # channels at res r = min(channel_base / r, channel_max): 256 up to
    channel_max: int = 256  # 32 px, 128 at 64, 64 at 128 -> 5.9 M params, 11.3 MB in fp16
    d_channel_base: int | None = None  # discriminator channel_base, None = channel_base
    d_channel_max: int | None = None  # discriminator channel_max, None = channel_max
    mbstd_group: int = 4  # minibatch-std group size (NVlabs default 4)
    # --- optimisation -----------------------------------------------------------------
    batch: int = 32  # NVlabs 'auto' at 128 px: min(4096 / res, 32) = 32
    g_lr: float = 0.0025  # NVlabs 'auto' for res < 1024
    d_lr: float = 0.0025
    betas: tuple[float, float] = (0.0, 0.99)  # Adam (StyleGAN2)
    r1_gamma: float | None = None  # R1 weight, None = 0.0002 * res^2 / batch (NVlabs 'auto')
    r1_interval: int = 16  # lazy R1 every 16 D steps (StyleGAN2, Appendix B)
    pl_weight: float = 0.0  # path-length weight; 2 in StyleGAN2, 0 = off (about 20% faster)
    pl_interval: int = 4  # lazy path-length regularisation every 4 G steps (StyleGAN2)
    pl_batch_shrink: int = 2  # path-length batch = batch / 2 (NVlabs)
    pl_decay: float = 0.01  # decay of the running mean path length (NVlabs)
    style_mixing_prob: float = 0.9  # StyleGAN2
    ema_kimg: float | None = None  # G_ema half-life in kimg, None = 10 * batch / 32 (NVlabs 'auto')
    ema_rampup: float | None = 0.05  # half-life <= ema_rampup * images shown so far, None = no ramp-up
    augment: str = DEFAULT_POLICY  # DiffAugment policy, 'none' = off
    ada_target: float | None = 0.6  # adaptive augmentation (StyleGAN2-ADA): raise p while E[sign(D(real))] > this,
    # lower it below (ADA paper Sec. 3 and NVlabs train.py: 0.6); None = p fixed at 1
    ada_interval: int = 4  # adjust p every this many steps (NVlabs ada_interval = 4)
    ada_kimg: float = 500.0  # p can go 0 -> 1 in this many kimg (NVlabs ada_kimg = 500)
    xflip: bool = True  # add mirrored copies of the training images
    holdout: str | None = "default"  # file names never trained on: 'default' = the committed UTKFace
    # list (training/data/utkface_holdout.txt), a path, or None
    # --- run --------------------------------------------------------------------------
    kimg: float = 1000.0  # train until this many thousand real images were shown
    snapshot_kimg: float = 50.0  # snapshot (G_ema + latest.pt) every this many kimg, and at the end
    log_every: int = 50  # average the losses over this many steps (one device sync each)
    seed: int = 0  # seeds initialisation, latents, augmentation and data order
    device: str = "auto"  # 'auto' (cuda > mps > cpu), 'cpu', 'cuda', 'cuda:N', 'mps'
    amp: str = "auto"  # 'auto' = bf16 autocast on CUDA with bf16 support, else off; 'bf16', 'off'
    cache_images: bool = True  # keep the data set in (device) memory as uint8 (9.5k x 128^2 x 3 = 0.47 GB)
    workers: int = 2  # DataLoader workers when cache_images is False
    keep_states: bool = False  # also keep training-state-XXXXXX.pt at every snapshot
    export_half: bool = True  # also write network-final-fp16.pt

    def __post_init__(self) -> None:
        def positive_int(name: str) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TrainError(f"TrainConfig.{name} must be a positive int, got {value!r}")

        def non_negative(name: str) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise TrainError(f"TrainConfig.{name} must be a finite number >= 0, got {value!r}")

        for name in (
            "resolution",
            "z_dim",
            "w_dim",
            "mapping_layers",
            "channel_base",
            "channel_max",
            "mbstd_group",
            "batch",
            "r1_interval",
            "pl_interval",
            "pl_batch_shrink",
            "log_every",
            "ada_interval",
        ):
            positive_int(name)
        for name in ("d_channel_base", "d_channel_max"):
            if getattr(self, name) is not None:
                positive_int(name)
        if self.resolution < 8 or self.resolution & (self.resolution - 1):
            raise TrainError(f"TrainConfig.resolution must be a power of two >= 8, got {self.resolution}")
        if self.batch % min(self.mbstd_group, self.batch):
            raise TrainError(
                f"TrainConfig.batch ({self.batch}) must be a multiple of mbstd_group "
                f"({self.mbstd_group}); change one of them"
            )
        for name in ("g_lr", "d_lr", "pl_weight", "pl_decay", "style_mixing_prob", "kimg", "snapshot_kimg"):
            non_negative(name)
        for name in ("r1_gamma", "ema_kimg", "ema_rampup"):
            if getattr(self, name) is not None:
                non_negative(name)
        if self.style_mixing_prob > 1 or self.pl_decay > 1:
            raise TrainError("TrainConfig.style_mixing_prob and pl_decay must be in [0, 1]")
        if self.snapshot_kimg <= 0:
            raise TrainError(f"TrainConfig.snapshot_kimg must be > 0, got {self.snapshot_kimg}")
        betas = tuple(self.betas)
        if len(betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas):
            raise TrainError(f"TrainConfig.betas must be two numbers in [0, 1), got {self.betas!r}")
        object.__setattr__(self, "betas", (float(betas[0]), float(betas[1])))
        parse_policy(self.augment)  # raises AugmentError (a ValueError) with the fix
        if self.ada_target is not None and not (isinstance(self.ada_target, (int, float)) and 0 < self.ada_target < 1):
            raise TrainError(f"TrainConfig.ada_target must be None or in (0, 1), got {self.ada_target!r}")
        if not (isinstance(self.ada_kimg, (int, float)) and self.ada_kimg > 0):
            raise TrainError(f"TrainConfig.ada_kimg must be > 0, got {self.ada_kimg!r}")
        if self.amp not in AMP_MODES:
            raise TrainError(f"TrainConfig.amp must be one of {AMP_MODES}, got {self.amp!r}")
        if not isinstance(self.workers, int) or self.workers < 0:
            raise TrainError(f"TrainConfig.workers must be an int >= 0, got {self.workers!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise TrainError(f"TrainConfig.seed must be an int >= 0, got {self.seed!r}")

    # Derived values (NVlabs heuristics where the field is None).
    @property
    def effective_r1_gamma(self) -> float:
        """R1 weight actually used."""
        return r1_gamma_heuristic(self.resolution, self.batch) if self.r1_gamma is None else float(self.r1_gamma)

    @property
    def effective_ema_kimg(self) -> float:
        """G_ema half-life (kimg) actually used."""
        return 10.0 * self.batch / 32 if self.ema_kimg is None else float(self.ema_kimg)

    @property
    def total_nimg(self) -> int:
        """Number of real images to show."""
        return int(round(self.kimg * 1000))

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict (for state files and logs)."""
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Inverse of `to_dict` (lists back to tuples); unknown keys are refused with TrainError."""
        return config_from_dict(cls, values, TrainError)


@dataclass(frozen=True)
class PrepareConfig:
    """How a folder of photos becomes a folder of aligned training crops."""

    size: int = 128  # crop side (the generator's resolution)
    preset: str = "utkface"  # face-crop preset, a key of align.FACE_PRESETS
    holdout: str | None = "default"  # names never written: 'default' = training/data/utkface_holdout.txt,
    # a path, or None
    image_format: str = "png"  # 'png' (lossless) or 'jpg' (about 8x smaller, for carrying the set around)
    jpeg_quality: int = 95  # quality of 'jpg' output
    workers: int = 1  # processes aligning in parallel

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 8:
            raise PrepareError(f"PrepareConfig.size must be an int >= 8, got {self.size!r}")
        try:
            AlignConfig.from_preset(self.preset)
        except AlignError as exc:
            raise PrepareError(str(exc)) from None
        if self.image_format not in ("png", "jpg"):
            raise PrepareError(f"PrepareConfig.image_format must be 'png' or 'jpg', got {self.image_format!r}")
        if not (isinstance(self.jpeg_quality, int) and 1 <= self.jpeg_quality <= 100):
            raise PrepareError(f"PrepareConfig.jpeg_quality must be an int in 1..100, got {self.jpeg_quality!r}")
        if not (isinstance(self.workers, int) and self.workers >= 1):
            raise PrepareError(f"PrepareConfig.workers must be an int >= 1, got {self.workers!r}")
