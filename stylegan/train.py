"""Train a small StyleGAN2 on a folder of aligned images (the project's default face model).

Reproducing the shipped 128 px face model (defaults of `TrainConfig`, seed 0):

    # 1. CPU, needs dlib (align/): align UTKFace with the inference alignment, minus the
    #    300 hold-out names; JPEG q90 keeps the set at ~50 MB for copying to a GPU machine.
    python -m pipeline.prepare_dataset --images ../shared/data/utkface --out data/utkface128 \
        --size 128 --format jpg --jpeg-quality 90 --workers 2
    # 2. GPU (bf16 autocast on CUDA): about 72 GFLOP per real image shown.
    python -m stylegan.train --data data/utkface128 --out runs/utkface128 --kimg 1000
    #    On machines that run one command for a limited time, add --max-minutes M and repeat
    #    with --resume runs/utkface128/latest.pt until kimg is reached (exact resume).
    # 3. CPU: quality proxy (dlib face rate of 200 samples at truncation 0.7, bar 80%).
    python -m pipeline.face_model_report --checkpoint runs/utkface128/network-final-fp16.pt

Follows StyleGAN2 / StyleGAN2-ADA (NVlabs stylegan2-ada-pytorch `training/loss.py`,
`training/training_loop.py`, read for facts):
  * non-saturating logistic loss, G: softplus(-D(G(z))), D: softplus(D(G(z))) + softplus(-D(x));
  * lazy R1 regularisation every `r1_interval` D steps, scaled by the interval, with
    Adam's lr and betas adjusted by interval / (interval + 1) (StyleGAN2, Appendix B);
  * optional lazy path-length regularisation of G (off by default, for speed);
  * style mixing, exponential moving average G_ema with ramp-up;
  * DiffAugment (`stylegan.augment`) on real and fake images before D in every phase,
    because the data set is small (~9.5k faces);
  * bf16 autocast of the synthesis network and D on CUDA ('amp'), fp32 elsewhere.

Outputs in `out_dir`:
  * `network-snapshot-XXXXXX.pt`: G_ema in the native format (`stylegan.save_generator`),
    XXXXXX = thousands of images shown, as NVlabs;
  * `latest.pt`: the whole training state (G, D, G_ema, both optimisers, counters, RNG
    states, config) for an exact resume (`--resume`), loadable with
    `torch.load(weights_only=True)`; `training-state-XXXXXX.pt` copies with `keep_states`;
  * `network-final.pt` and, with `export_half`, `network-final-fp16.pt` (the file to ship);
  * `log.jsonl`: one line of averaged losses and speed per `log_every` steps.

Resuming restores the RNG states and the position in the (seeded) data order, so on
CPU a resumed run reproduces the uninterrupted run's losses exactly.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from stylegan.augment import DEFAULT_POLICY, diff_augment, parse_policy
from stylegan.checkpoints import atomic_save, resolve_device, save_generator
from stylegan.configs import config_from_dict, config_to_dict
from stylegan.dataset import HOLDOUT_PATH, ImageFolderDataset, load_holdout
from stylegan.discriminator import Discriminator
from stylegan.errors import DragPipelineError
from stylegan.networks import Generator

__all__ = ["TrainConfig", "TrainError", "TrainResult", "Trainer", "train", "build_networks", "ema_beta", "update_ema",
           "r1_gamma_heuristic", "load_train_state", "main"]

STATE_FORMAT = "draggan-pipeline/train-state"
STATE_VERSION = 1
AMP_MODES = ("auto", "bf16", "off")
# Fields that fix the networks' shapes or the data order: a resumed run must keep them.
_RESUME_FIXED = ("resolution", "z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max",
                 "d_channel_base", "d_channel_max", "mbstd_group", "seed", "xflip", "holdout")


class TrainError(DragPipelineError, ValueError):
    """Bad training configuration, data or resume state."""


def r1_gamma_heuristic(resolution: int, batch: int) -> float:
    """R1 weight of StyleGAN2-ADA's 'auto' config: 0.0002 * resolution^2 / batch.

    (NVlabs stylegan2-ada-pytorch train.py, cfg 'auto'; 0.1024 at 128 px, batch 32.)
    """
    return 0.0002 * resolution ** 2 / batch


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (vary with `dataclasses.replace`)."""

    # --- networks ---------------------------------------------------------------------
    resolution: int = 128               # image side, a power of two
    z_dim: int = 256                    # 256 instead of 512: enough for a 10k-image face set, halves every
    w_dim: int = 256                    # affine layer (and DragGAN's W+ variables); NVlabs uses 512 at 1-70k images
    mapping_layers: int = 4             # NVlabs: 8 (paper), 2 ('auto' small-data config); 4 in between
    channel_base: int = 8192            # channels at res r = min(channel_base / r, channel_max): 256 up to
    channel_max: int = 256              # 32 px, 128 at 64, 64 at 128 -> 5.9 M params, 11.3 MB in fp16
    d_channel_base: int | None = None   # discriminator channel_base, None = channel_base
    d_channel_max: int | None = None    # discriminator channel_max, None = channel_max
    mbstd_group: int = 4                # minibatch-std group size (NVlabs default 4)
    # --- optimisation -----------------------------------------------------------------
    batch: int = 32                     # NVlabs 'auto' at 128 px: min(4096 / res, 32) = 32
    g_lr: float = 0.0025                # NVlabs 'auto' for res < 1024
    d_lr: float = 0.0025
    betas: tuple[float, float] = (0.0, 0.99)  # Adam (StyleGAN2)
    r1_gamma: float | None = None       # R1 weight, None = 0.0002 * res^2 / batch (NVlabs 'auto')
    r1_interval: int = 16               # lazy R1 every 16 D steps (StyleGAN2, Appendix B)
    pl_weight: float = 0.0              # path-length weight; 2 in StyleGAN2, 0 = off (about 20% faster)
    pl_interval: int = 4                # lazy path-length regularisation every 4 G steps (StyleGAN2)
    pl_batch_shrink: int = 2            # path-length batch = batch / 2 (NVlabs)
    pl_decay: float = 0.01              # decay of the running mean path length (NVlabs)
    style_mixing_prob: float = 0.9      # StyleGAN2
    ema_kimg: float | None = None       # G_ema half-life in kimg, None = 10 * batch / 32 (NVlabs 'auto')
    ema_rampup: float | None = 0.05     # half-life <= ema_rampup * images shown so far, None = no ramp-up
    augment: str = DEFAULT_POLICY       # DiffAugment policy, 'none' = off
    xflip: bool = True                  # add mirrored copies of the training images
    holdout: str | None = "default"     # file names never trained on: 'default' = the committed UTKFace
                                        # list (stylegan/data/utkface_holdout.txt), a path, or None
    # --- run --------------------------------------------------------------------------
    kimg: float = 1000.0                # train until this many thousand real images were shown
    snapshot_kimg: float = 50.0         # snapshot (G_ema + latest.pt) every this many kimg, and at the end
    log_every: int = 50                 # average the losses over this many steps (one device sync each)
    seed: int = 0                       # seeds initialisation, latents, augmentation and data order
    device: str = "auto"                # 'auto' (cuda > mps > cpu), 'cpu', 'cuda', 'cuda:N', 'mps'
    amp: str = "auto"                   # 'auto' = bf16 autocast on CUDA with bf16 support, else off; 'bf16', 'off'
    cache_images: bool = True           # keep the data set in (device) memory as uint8 (9.5k x 128^2 x 3 = 0.47 GB)
    workers: int = 2                    # DataLoader workers when cache_images is False
    keep_states: bool = False           # also keep training-state-XXXXXX.pt at every snapshot
    export_half: bool = True            # also write network-final-fp16.pt

    def __post_init__(self) -> None:
        def positive_int(name: str) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TrainError(f"TrainConfig.{name} must be a positive int, got {value!r}")

        def non_negative(name: str) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise TrainError(f"TrainConfig.{name} must be a finite number >= 0, got {value!r}")

        for name in ("resolution", "z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max", "mbstd_group",
                     "batch", "r1_interval", "pl_interval", "pl_batch_shrink", "log_every"):
            positive_int(name)
        for name in ("d_channel_base", "d_channel_max"):
            if getattr(self, name) is not None:
                positive_int(name)
        if self.resolution < 8 or self.resolution & (self.resolution - 1):
            raise TrainError(f"TrainConfig.resolution must be a power of two >= 8, got {self.resolution}")
        if self.batch % min(self.mbstd_group, self.batch):
            raise TrainError(f"TrainConfig.batch ({self.batch}) must be a multiple of mbstd_group "
                             f"({self.mbstd_group}); change one of them")
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
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Inverse of `to_dict` (lists back to tuples); unknown keys are refused with TrainError."""
        return config_from_dict(cls, values, TrainError)


@dataclass
class TrainResult:
    """What `train` did.

    Attributes:
        out_dir: the output folder.
        step: number of training steps done in total (also before a resume).
        cur_nimg: number of real images shown in total.
        losses: one dict per step of *this* call: 'step', 'loss_G', 'loss_D',
            'loss_Dreal', 'loss_Dgen', 'logits_real', 'logits_fake', plus 'r1' on
            the lazy R1 steps and 'pl' on the lazy path-length steps.
        snapshots: the network-snapshot files written by this call.
        final: network-final.pt, or None when the run stopped early (time limit).
        final_half: network-final-fp16.pt, or None.
        state: the latest.pt file.
        images_per_second: mean training speed of this call.
    """

    out_dir: Path
    step: int
    cur_nimg: int
    losses: list[dict[str, float]] = field(default_factory=list)
    snapshots: list[Path] = field(default_factory=list)
    final: Path | None = None
    final_half: Path | None = None
    state: Path | None = None
    images_per_second: float = 0.0


# ----------------------------------------------------------------------------- building blocks

def build_networks(config: TrainConfig, device: torch.device | str = "cpu") -> tuple[Generator, Discriminator]:
    """Freshly initialised G and D for a config (seed the RNG first for a fixed init).

    Returns:
        (G, D) on `device`, in train mode, float32.
    """
    G = Generator(z_dim=config.z_dim, c_dim=0, w_dim=config.w_dim, img_resolution=config.resolution,
                  channel_base=config.channel_base, channel_max=config.channel_max,
                  mapping_layers=config.mapping_layers)
    D = Discriminator(config.resolution, channel_base=config.d_channel_base or config.channel_base,
                      channel_max=config.d_channel_max or config.channel_max, mbstd_group_size=config.mbstd_group)
    return G.to(device).train(), D.to(device).train()


def ema_beta(config: TrainConfig, cur_nimg: int) -> float:
    """Decay of G_ema for the step that starts after `cur_nimg` images.

    NVlabs training_loop: half-life ema_nimg = ema_kimg * 1000, limited during ramp-up to
    ema_rampup * cur_nimg; beta = 0.5 ** (batch / ema_nimg). beta = 0 (copy) at the start.

    Returns:
        beta in [0, 1): G_ema = beta * G_ema + (1 - beta) * G.
    """
    ema_nimg = config.effective_ema_kimg * 1000
    if config.ema_rampup is not None:
        ema_nimg = min(ema_nimg, cur_nimg * config.ema_rampup)
    return 0.5 ** (config.batch / max(ema_nimg, 1e-8))


@torch.no_grad()
def update_ema(G_ema: Generator, G: Generator, beta: float) -> None:
    """G_ema's parameters <- beta * G_ema + (1 - beta) * G; buffers copied from G.

    Updates `G_ema` in place (it is the trainer's own copy).
    """
    params = dict(G.named_parameters())
    names = [name for name, _ in G_ema.named_parameters()]
    # One fused kernel per dtype instead of one per tensor: p_ema += (1 - beta) * (p - p_ema).
    torch._foreach_lerp_([p for _, p in G_ema.named_parameters()], [params[n].detach() for n in names], 1.0 - beta)
    buffers = dict(G.named_buffers())
    for name, b_ema in G_ema.named_buffers():
        b_ema.copy_(buffers[name])


def _holdout_names(config: TrainConfig) -> list[str]:
    if config.holdout is None:
        return []
    return load_holdout(HOLDOUT_PATH if config.holdout == "default" else config.holdout)


def _epoch_order(num_items: int, seed: int, epoch: int) -> torch.Tensor:
    # One seeded permutation per epoch: the k-th image shown is a function of (seed, k)
    # alone, so a resumed run picks up the exact data order.
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(num_items, generator=gen)


def _item_indices(num_items: int, seed: int, start: int, count: int) -> Iterator[int]:
    epoch, order = -1, None
    for k in range(start, start + count):
        if k // num_items != epoch:
            epoch = k // num_items
            order = _epoch_order(num_items, seed, epoch)
        yield int(order[k % num_items])


class _InfiniteSampler(torch.utils.data.Sampler):
    def __init__(self, num_items: int, seed: int, start: int):
        self.num_items, self.seed, self.start = num_items, seed, start

    def __iter__(self) -> Iterator[int]:
        k = self.start
        while True:
            yield from _item_indices(self.num_items, self.seed, k, self.num_items)
            k += self.num_items


class _BatchSource:
    """Real batches (B, 3, R, R) float in [-1, 1] on the device, in the seeded order."""

    def __init__(self, dataset: ImageFolderDataset, config: TrainConfig, device: torch.device, start_nimg: int):
        self.dataset, self.config, self.device = dataset, config, device
        self.next_nimg = start_nimg
        self.images: torch.Tensor | None = None
        self.loader_iter = None
        if config.cache_images:
            # The whole data set as uint8 on the device: batches are a gather, no loader.
            self.images = dataset.uint8_images().to(device)
        else:
            loader = torch.utils.data.DataLoader(
                dataset, batch_size=config.batch, sampler=_InfiniteSampler(len(dataset), config.seed, start_nimg),
                num_workers=config.workers, pin_memory=device.type == "cuda", drop_last=True,
                persistent_workers=config.workers > 0,
                generator=torch.Generator().manual_seed(config.seed))  # never draws from the global RNG
            self.loader_iter = iter(loader)

    def next(self) -> torch.Tensor:
        batch = self.config.batch
        if self.images is None:
            self.next_nimg += batch
            return next(self.loader_iter).to(self.device, non_blocking=True)
        items = torch.tensor(list(_item_indices(len(self.dataset), self.config.seed, self.next_nimg, batch)))
        self.next_nimg += batch
        n = self.dataset.num_images
        items = items.to(self.device)
        x = self.images[items % n].permute(0, 3, 1, 2).contiguous().to(torch.float32) / 127.5 - 1
        flip = (items >= n).reshape(-1, 1, 1, 1)
        return torch.where(flip, x.flip(3), x)


class Trainer:
    """One training run's networks (G, D, G_ema), optimisers and step function.

    `train` drives it; use it directly for custom loops or tests. Construction seeds
    torch's global RNG with `config.seed` and initialises the networks on `device`.
    """

    def __init__(self, config: TrainConfig, device: torch.device):
        self.config, self.device = config, device
        torch.manual_seed(config.seed)
        self.G, self.D = build_networks(config, device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.r1_gamma = config.effective_r1_gamma
        self.opt_G = self._optimizer(self.G, config.g_lr, config.pl_interval if config.pl_weight > 0 else None)
        self.opt_D = self._optimizer(self.D, config.d_lr, config.r1_interval if self.r1_gamma > 0 else None)
        self.pl_mean = torch.zeros([], device=device)
        self.step = 0
        self.cur_nimg = 0
        use_amp = config.amp == "bf16" or (config.amp == "auto" and device.type == "cuda"
                                           and torch.cuda.is_bf16_supported())
        self.amp_dtype = torch.bfloat16 if use_amp else None

    def _optimizer(self, module: torch.nn.Module, lr: float, reg_interval: int | None) -> torch.optim.Adam:
        # Lazy regularisation: the main and the regularisation steps share one Adam whose
        # lr and betas are scaled by interval / (interval + 1) (StyleGAN2, Appendix B).
        ratio = reg_interval / (reg_interval + 1) if reg_interval else 1.0
        betas = tuple(b ** ratio for b in self.config.betas)
        return torch.optim.Adam(module.parameters(), lr=lr * ratio, betas=betas, eps=1e-8)

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def generate(self, z: torch.Tensor, update_emas: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, z_dim) -> (img (B, 3, R, R) float32, ws (B, num_ws, w_dim)), with style mixing."""
        G = self.G
        ws = G.mapping(z, None, update_emas=update_emas)  # mapping in fp32: tiny, and lr-multiplied
        if self.config.style_mixing_prob > 0:
            num_ws = ws.shape[1]
            cutoff = torch.randint(1, num_ws, [], device=z.device)
            mix = torch.rand([], device=z.device) < self.config.style_mixing_prob
            cutoff = torch.where(mix, cutoff, torch.full_like(cutoff, num_ws))
            ws2 = G.mapping(torch.randn_like(z), None, update_emas=False)
            rows = torch.arange(num_ws, device=z.device).reshape(1, -1, 1)
            ws = torch.where(rows >= cutoff, ws2, ws)  # no host sync, unlike ws[:, cutoff:] = ...
        with self._autocast():
            img = G.synthesis(ws, noise_mode="random")
        return img.to(torch.float32), ws

    def discriminate(self, img: torch.Tensor) -> torch.Tensor:
        """Augments, then scores: (B, 3, R, R) -> (B, 1) float32 logits."""
        img = diff_augment(img, self.config.augment)
        with self._autocast():
            return self.D(img).to(torch.float32)

    @staticmethod
    def _step_optimizer(opt: torch.optim.Optimizer, module: torch.nn.Module) -> None:
        for p in module.parameters():
            if p.grad is not None:
                # As NVlabs: a rare non-finite gradient must not poison Adam's moments.
                torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
        opt.step()

    def train_step(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """One step: G main [+ path length], D main [+ R1], then the G_ema update.

        Args:
            real: (B, 3, R, R) float32 real images in [-1, 1] on the trainer's device;
                B is also the number of latents drawn.

        Returns:
            Detached scalar tensors: 'loss_G', 'loss_D', 'loss_Dreal', 'loss_Dgen',
            'logits_real', 'logits_fake', plus 'pl' / 'r1' on their lazy steps.
        """
        cfg, G, D = self.config, self.G, self.D
        batch = real.shape[0]
        stats: dict[str, torch.Tensor] = {}

        # G main: non-saturating loss.
        G.requires_grad_(True)
        D.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        fake, _ = self.generate(torch.randn([batch, G.z_dim], device=self.device))
        loss_G = F.softplus(-self.discriminate(fake)).mean()
        loss_G.backward()
        self._step_optimizer(self.opt_G, G)
        stats["loss_G"] = loss_G.detach()

        # G regularisation: path length, lazily.
        if cfg.pl_weight > 0 and self.step % cfg.pl_interval == 0:
            self.opt_G.zero_grad(set_to_none=True)
            pl_batch = max(batch // cfg.pl_batch_shrink, 1)
            img, ws = self.generate(torch.randn([pl_batch, G.z_dim], device=self.device))
            noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
            (grads,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
            lengths = grads.square().sum(2).mean(1).sqrt()
            self.pl_mean.copy_(self.pl_mean.lerp(lengths.mean().detach(), cfg.pl_decay))
            pl_penalty = (lengths - self.pl_mean).square().mean()
            (pl_penalty * cfg.pl_weight * cfg.pl_interval).backward()
            self._step_optimizer(self.opt_G, G)
            stats["pl"] = pl_penalty.detach()

        # D main: fakes (G frozen; the w_avg running mean is updated here, as NVlabs) and reals.
        G.requires_grad_(False)
        D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake, _ = self.generate(torch.randn([batch, G.z_dim], device=self.device), update_emas=True)
        logits_fake = self.discriminate(fake)
        logits_real = self.discriminate(real)
        loss_Dgen = F.softplus(logits_fake).mean()
        loss_Dreal = F.softplus(-logits_real).mean()
        (loss_Dgen + loss_Dreal).backward()
        self._step_optimizer(self.opt_D, D)
        stats.update(loss_D=(loss_Dgen + loss_Dreal).detach(), loss_Dreal=loss_Dreal.detach(),
                     loss_Dgen=loss_Dgen.detach(), logits_real=logits_real.mean().detach(),
                     logits_fake=logits_fake.mean().detach())

        # D regularisation: R1 on the un-augmented reals (gradient taken through the
        # augmentation, as ADA), every r1_interval steps, scaled by the interval.
        if self.r1_gamma > 0 and self.step % cfg.r1_interval == 0:
            self.opt_D.zero_grad(set_to_none=True)
            real_ = real.detach().requires_grad_(True)
            logits = self.discriminate(real_)
            (grads,) = torch.autograd.grad(logits.sum(), real_, create_graph=True)
            r1_penalty = grads.square().sum(dim=[1, 2, 3])
            (r1_penalty * (self.r1_gamma / 2)).mean().mul(cfg.r1_interval).backward()
            self._step_optimizer(self.opt_D, D)
            stats["r1"] = r1_penalty.mean().detach()
        D.requires_grad_(False)

        update_ema(self.G_ema, G, ema_beta(cfg, self.cur_nimg))
        self.step += 1
        self.cur_nimg += batch
        return stats

    # -- state ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        rng: dict[str, torch.Tensor | None] = {"cpu": torch.get_rng_state(), "device": None}
        if self.device.type == "cuda":
            rng["device"] = torch.cuda.get_rng_state(self.device)
        elif self.device.type == "mps":
            rng["device"] = torch.mps.get_rng_state()
        return {
            "format": STATE_FORMAT, "version": STATE_VERSION, "config": self.config.to_dict(),
            "step": self.step, "cur_nimg": self.cur_nimg,
            "G": self.G.state_dict(), "D": self.D.state_dict(), "G_ema": self.G_ema.state_dict(),
            "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
            "pl_mean": self.pl_mean.detach().cpu(), "rng": rng,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.pl_mean.copy_(state["pl_mean"])
        self.step, self.cur_nimg = int(state["step"]), int(state["cur_nimg"])
        torch.set_rng_state(state["rng"]["cpu"])
        device_rng = state["rng"].get("device")
        if device_rng is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(device_rng, self.device)
        elif device_rng is not None and self.device.type == "mps":
            torch.mps.set_rng_state(device_rng)


def load_train_state(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a training state file (`latest.pt`, `training-state-*.pt`), or `latest.pt` in a folder.

    Returns:
        The state dict (tensors on the CPU), read with `torch.load(weights_only=True)`.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "latest.pt"
    if not path.is_file():
        raise TrainError(f"training state {path} not found; pass the run's latest.pt (or its folder) to --resume")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same one-line message
        raise TrainError(f"cannot read training state {path} ({type(exc).__name__}: {exc}); "
                         f"pass a latest.pt written by stylegan.train") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise TrainError(f"{path} is not a training state of stylegan.train (a generator checkpoint cannot be "
                         f"resumed; pass latest.pt)")
    if state.get("version") != STATE_VERSION:
        raise TrainError(f"{path} has training-state version {state.get('version')}, expected {STATE_VERSION}; "
                         f"resume it with the code version that wrote it")
    return state


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


# ----------------------------------------------------------------------------- the loop

def train(config: TrainConfig, data_dir: str | os.PathLike, out_dir: str | os.PathLike,
          resume: str | os.PathLike | None = None, progress: bool = True,
          max_minutes: float | None = None) -> TrainResult:
    """Trains (or resumes training) until `config.kimg` thousand real images were shown.

    Args:
        config: the run's settings. On resume, the fields that fix the networks or the
            data order (resolution, channels, seed, ...) must equal the saved ones;
            kimg, snapshot_kimg, device, amp and the like may change.
        data_dir: folder of aligned square images (`pipeline.prepare_dataset` output);
            names in the hold-out list are skipped.
        out_dir: output folder (created); see the module docstring for its files.
        resume: a training state (`latest.pt`) or a run folder, None = start afresh.
        progress: show a tqdm bar with losses and images/s.
        max_minutes: stop cleanly (snapshot + state, resumable) after this much wall
            time, None = no limit; for machines that run a command for a limited time.

    Returns:
        TrainResult (files written, per-step losses of this call, speed).
    """
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    device = resolve_device(config.device)
    state = None
    if resume is not None:
        state = load_train_state(resume)
        saved = TrainConfig.from_dict(state["config"])
        changed = [name for name in _RESUME_FIXED if getattr(saved, name) != getattr(config, name)]
        if changed:
            raise TrainError(f"cannot resume with different {changed} (saved: "
                             f"{ {name: getattr(saved, name) for name in changed} }); keep the saved values")
    if device.type == "cuda":
        # TF32 convolutions / matmuls where bf16 autocast does not apply; cuDNN autotuning.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True

    dataset = ImageFolderDataset(data_dir, config.resolution, exclude=_holdout_names(config), xflip=config.xflip,
                                 cache=config.cache_images)
    trainer = Trainer(config, device)
    if state is not None:
        trainer.load_state_dict(state)
        del state
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    source = _BatchSource(dataset, config, device, trainer.cur_nimg)
    result = TrainResult(out_dir=out_dir, step=trainer.step, cur_nimg=trainer.cur_nimg)
    total_nimg = config.total_nimg
    snapshot_nimg = int(round(config.snapshot_kimg * 1000))
    next_snapshot = (trainer.cur_nimg // snapshot_nimg + 1) * snapshot_nimg
    start_time = time.perf_counter()
    start_nimg = trainer.cur_nimg
    pending: list[tuple[int, dict[str, torch.Tensor]]] = []
    log_file = open(out_dir / "log.jsonl", "a")
    bar = tqdm(total=total_nimg, initial=min(trainer.cur_nimg, total_nimg), unit="img", unit_scale=True,
               disable=not progress, dynamic_ncols=True, desc=f"train {config.resolution}px")
    print(f"stylegan.train: {dataset.num_images} images ({dataset.num_excluded} held out) from {data_dir}, "
          f"device {device}, amp {trainer.amp_dtype or 'off'}, G {_count(trainer.G) / 1e6:.2f} M / "
          f"D {_count(trainer.D) / 1e6:.2f} M params, r1_gamma {trainer.r1_gamma:.4g}, "
          f"ema {config.effective_ema_kimg:g} kimg, from kimg {trainer.cur_nimg / 1000:g} to {config.kimg:g}",
          flush=True)
    interval_time, interval_nimg = time.perf_counter(), trainer.cur_nimg

    def flush() -> None:
        # One device-to-host copy per log interval instead of a sync every step.
        nonlocal interval_time, interval_nimg
        if not pending:
            return
        flat = [(i, key, value) for i, (_, stats) in enumerate(pending) for key, value in stats.items()]
        values = torch.stack([value.float() for _, _, value in flat]).cpu().tolist()
        rows = [{"step": step} for step, _ in pending]
        for (i, key, _), value in zip(flat, values):
            rows[i][key] = value
        result.losses.extend(rows)
        pending.clear()
        _sync(device)
        now = time.perf_counter()
        speed = (trainer.cur_nimg - interval_nimg) / max(now - interval_time, 1e-9)
        interval_time, interval_nimg = now, trainer.cur_nimg
        keys = sorted({key for row in rows for key in row} - {"step"})
        means = {key: sum(row[key] for row in rows if key in row) / sum(key in row for row in rows) for key in keys}
        record = {"step": trainer.step, "kimg": trainer.cur_nimg / 1000, "img_per_s": speed,
                  "minutes": (now - start_time) / 60, **means}
        log_file.write(json.dumps(record) + "\n")
        log_file.flush()
        bar.set_postfix({"G": f"{means.get('loss_G', float('nan')):.3f}",
                         "D": f"{means.get('loss_D', float('nan')):.3f}",
                         "r1": f"{means['r1']:.3g}" if "r1" in means else "-",
                         "img/s": f"{speed:.0f}"}, refresh=False)

    def snapshot(final: bool) -> None:
        kimg_tag = f"{trainer.cur_nimg // 1000:06d}"
        result.snapshots.append(save_generator(trainer.G_ema, out_dir / f"network-snapshot-{kimg_tag}.pt"))
        result.state = atomic_save(trainer.state_dict(), out_dir / "latest.pt")
        if config.keep_states:
            atomic_save(trainer.state_dict(), out_dir / f"training-state-{kimg_tag}.pt")
        if final:
            result.final = save_generator(trainer.G_ema, out_dir / "network-final.pt")
            if config.export_half:
                result.final_half = save_generator(trainer.G_ema, out_dir / "network-final-fp16.pt", half=True)

    try:
        stopped_early = False
        while trainer.cur_nimg < total_nimg:
            real = source.next()
            pending.append((trainer.step, trainer.train_step(real)))
            bar.update(min(config.batch, total_nimg - bar.n))
            if len(pending) >= config.log_every:
                flush()
            done = trainer.cur_nimg >= total_nimg
            timed_out = max_minutes is not None and (time.perf_counter() - start_time) / 60 >= max_minutes
            if trainer.cur_nimg >= next_snapshot or done or timed_out:
                flush()
                while next_snapshot <= trainer.cur_nimg:
                    next_snapshot += snapshot_nimg
                snapshot(final=done)
            if timed_out and not done:
                stopped_early = True
                break
        flush()
        if result.state is None and not stopped_early:
            snapshot(final=True)  # resumed a run that was already complete: export anyway
    finally:
        bar.close()
        log_file.close()
    _sync(device)
    elapsed = time.perf_counter() - start_time
    result.step, result.cur_nimg = trainer.step, trainer.cur_nimg
    result.images_per_second = (trainer.cur_nimg - start_nimg) / max(elapsed, 1e-9)
    return result


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ----------------------------------------------------------------------------- CLI

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m stylegan.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    defaults = TrainConfig()
    p.add_argument("--data", required=True, help="folder of aligned images (python -m pipeline.prepare_dataset)")
    p.add_argument("--out", required=True, help="output folder (snapshots, latest.pt, log.jsonl)")
    p.add_argument("--resume", default=None, help="latest.pt (or its run folder) to continue; its config is the "
                                                  "default for every option not given")
    p.add_argument("--max-minutes", type=float, default=None, help="stop cleanly (resumable) after this many minutes")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    # Every config option defaults to None here = TrainConfig's default (or the resumed run's value).
    options = [
        ("--kimg", float, "kimg"), ("--batch", int, "batch"), ("--resolution", int, "resolution"),
        ("--seed", int, "seed"), ("--device", str, "device"), ("--amp", str, "amp"),
        ("--snapshot-kimg", float, "snapshot_kimg"), ("--log-every", int, "log_every"),
        ("--z-dim", int, "z_dim"), ("--w-dim", int, "w_dim"), ("--mapping-layers", int, "mapping_layers"),
        ("--channel-base", int, "channel_base"), ("--channel-max", int, "channel_max"),
        ("--g-lr", float, "g_lr"), ("--d-lr", float, "d_lr"), ("--r1-gamma", float, "r1_gamma"),
        ("--r1-interval", int, "r1_interval"), ("--pl-weight", float, "pl_weight"),
        ("--style-mixing-prob", float, "style_mixing_prob"), ("--ema-kimg", float, "ema_kimg"),
        ("--augment", str, "augment"), ("--workers", int, "workers"), ("--holdout", str, "holdout"),
    ]
    for flag, kind, name in options:
        p.add_argument(flag, type=kind, default=None, dest=name, help=f"(default {getattr(defaults, name)!r})")
    p.add_argument("--no-holdout", action="store_true", help="train on every image (no hold-out list)")
    p.add_argument("--no-xflip", action="store_true", help="no mirrored copies")
    p.add_argument("--no-cache", action="store_true", help="read images with a DataLoader instead of caching them")
    p.add_argument("--keep-states", action="store_true", help="keep a training state at every snapshot")
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    option_names = [f.name for f in dataclasses.fields(TrainConfig)]
    try:
        base = TrainConfig.from_dict(load_train_state(args.resume)["config"]) if args.resume else TrainConfig()
        changes = {name: getattr(args, name) for name in option_names
                   if getattr(args, name, None) is not None}
        if args.no_holdout:
            changes["holdout"] = None
        if args.no_xflip:
            changes["xflip"] = False
        if args.no_cache:
            changes["cache_images"] = False
        if args.keep_states:
            changes["keep_states"] = True
        config = dataclasses.replace(base, **changes)
        result = train(config, args.data, args.out, resume=args.resume, progress=not args.no_progress,
                       max_minutes=args.max_minutes)
    except DragPipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    last = result.losses[-1] if result.losses else {}
    print(f"done: step {result.step}, kimg {result.cur_nimg / 1000:g}, {result.images_per_second:.1f} img/s, "
          f"loss_G {last.get('loss_G', float('nan')):.4f}, loss_D {last.get('loss_D', float('nan')):.4f}")
    print(f"state: {result.state}")
    if result.final is not None:
        print(f"final: {result.final}" + (f"  fp16: {result.final_half}" if result.final_half else ""))
    else:
        print(f"stopped early at the time limit; continue with --resume {result.state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
