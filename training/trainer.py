"""The training step: G, D, G_ema, optimisers, adaptive augmentation, real batches, state.

`Trainer.train_step` is one StyleGAN2 step (NVlabs stylegan2-ada-pytorch `training/loss.py`,
`training/training_loop.py`, read for facts); `training.train.train` drives it.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from stylegan.networks import Generator
from training.augment import diff_augment
from training.config import TrainConfig
from training.dataset import HOLDOUT_PATH, ImageFolderDataset, load_holdout
from training.discriminator import Discriminator
from training.errors import TrainError

__all__ = ["Trainer", "build_networks", "ema_beta", "update_ema", "load_train_state", "STATE_FORMAT", "STATE_VERSION"]

STATE_FORMAT = "draggan-pipeline/train-state"
STATE_VERSION = 1


# ----------------------------------------------------------------------------- building blocks


def build_networks(config: TrainConfig, device: torch.device | str = "cpu") -> tuple[Generator, Discriminator]:
    """Freshly initialised G and D for a config (seed the RNG first for a fixed init).

    Returns:
        (G, D) on `device`, in train mode, float32.
    """
    G = Generator(
        z_dim=config.z_dim,
        c_dim=0,
        w_dim=config.w_dim,
        img_resolution=config.resolution,
        channel_base=config.channel_base,
        channel_max=config.channel_max,
        mapping_layers=config.mapping_layers,
    )
    D = Discriminator(
        config.resolution,
        channel_base=config.d_channel_base or config.channel_base,
        channel_max=config.d_channel_max or config.channel_max,
        mbstd_group_size=config.mbstd_group,
    )
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
                dataset,
                batch_size=config.batch,
                sampler=_InfiniteSampler(len(dataset), config.seed, start_nimg),
                num_workers=config.workers,
                pin_memory=device.type == "cuda",
                drop_last=True,
                persistent_workers=config.workers > 0,
                generator=torch.Generator().manual_seed(config.seed),  # never draws from the global RNG
            )
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
        # Augmentation probability: adapted from 0 with ADA (NVlabs starts at p = 0), else fixed at 1.
        self.augment_p = torch.full([], 0.0 if config.ada_target is not None else 1.0, device=device)
        self.ada_signs = torch.zeros([2], device=device)  # sum of sign(D(real)), count, since the last adjustment
        self.step = 0
        self.cur_nimg = 0
        use_amp = config.amp == "bf16" or (
            config.amp == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported()
        )
        self.amp_dtype = torch.bfloat16 if use_amp else None

    def _optimizer(self, module: torch.nn.Module, lr: float, reg_interval: int | None) -> torch.optim.Adam:
        # Lazy regularisation: the main and the regularisation steps share one Adam whose
        # lr and betas are scaled by interval / (interval + 1) (StyleGAN2, Appendix B).
        ratio = reg_interval / (reg_interval + 1) if reg_interval else 1.0
        betas = tuple(b**ratio for b in self.config.betas)
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
        """Augments (with probability `augment_p`), then scores: (B, 3, R, R) -> (B, 1) float32 logits."""
        p = self.augment_p if self.config.ada_target is not None else 1.0
        img = diff_augment(img, self.config.augment, p=p)
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
        stats.update(
            loss_D=(loss_Dgen + loss_Dreal).detach(),
            loss_Dreal=loss_Dreal.detach(),
            loss_Dgen=loss_Dgen.detach(),
            logits_real=logits_real.mean().detach(),
            logits_fake=logits_fake.mean().detach(),
        )
        if cfg.ada_target is not None:
            self._adapt_augment(logits_real.detach(), batch)
            stats["augment_p"] = self.augment_p.clone()

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

    def _adapt_augment(self, logits_real: torch.Tensor, batch: int) -> None:
        # StyleGAN2-ADA overfitting heuristic r_t = E[sign(D(real))] over `ada_interval` steps:
        # p += sign(r_t - target) * batch * interval / (ada_kimg * 1000), clamped to [0, 1]
        # (NVlabs training_loop.py), so p can go from 0 to 1 in ada_kimg thousand images.
        # A discriminator at chance has r_t ~ 0 < target, so p falls and D can separate again.
        cfg = self.config
        self.ada_signs += torch.stack(
            [logits_real.sign().sum(), torch.tensor(float(logits_real.numel()), device=logits_real.device)]
        )
        if (self.step + 1) % cfg.ada_interval == 0:
            r_t = self.ada_signs[0] / self.ada_signs[1].clamp(min=1)
            adjust = torch.sign(r_t - cfg.ada_target) * (batch * cfg.ada_interval) / (cfg.ada_kimg * 1000)
            self.augment_p.copy_((self.augment_p + adjust).clamp(0, 1))
            self.ada_signs.zero_()

    # -- state ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        rng = rng_state(self.device)
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "config": self.config.to_dict(),
            "step": self.step,
            "cur_nimg": self.cur_nimg,
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "pl_mean": self.pl_mean.detach().cpu(),
            "rng": rng,
            "augment_p": self.augment_p.detach().cpu(),
            "ada_signs": self.ada_signs.detach().cpu(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.pl_mean.copy_(state["pl_mean"])
        # States written before ADA trained with every augmentation always on (p = 1).
        self.augment_p.copy_(state.get("augment_p", torch.ones([])))
        self.ada_signs.copy_(state.get("ada_signs", torch.zeros([2])))
        self.step, self.cur_nimg = int(state["step"]), int(state["cur_nimg"])
        restore_rng_state(state["rng"], self.device)


def rng_state(device: torch.device) -> dict[str, Any]:
    """The random state a resumed run needs: the CPU generator's, and the device's with its type.

    Returns:
        {'cpu': ByteTensor, 'device': ByteTensor or None (CPU runs), 'device_type': 'cuda' / 'mps' / 'cpu'}.
    """
    rng: dict[str, Any] = {"cpu": torch.get_rng_state(), "device": None, "device_type": device.type}
    if device.type == "cuda":
        rng["device"] = torch.cuda.get_rng_state(device)
    elif device.type == "mps":
        rng["device"] = torch.mps.get_rng_state()
    return rng


def restore_rng_state(rng: dict[str, Any], device: torch.device) -> None:
    """Restores `rng_state`'s result; a device state saved on another device type is left out.

    A CUDA generator state does not fit MPS (or back): a run moved between them resumes with the
    CPU state and the device's current stream, instead of failing. States written before the
    device type was recorded count as CUDA's when they hold one (only CUDA runs wrote them).
    """
    torch.set_rng_state(rng["cpu"])
    device_rng = rng.get("device")
    saved_type = rng.get("device_type", "cuda" if device_rng is not None else "cpu")
    if device_rng is None or saved_type != device.type:
        return
    if device.type == "cuda":
        torch.cuda.set_rng_state(device_rng, device)
    elif device.type == "mps":
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
        raise TrainError(
            f"cannot read training state {path} ({type(exc).__name__}: {exc}); "
            f"pass a latest.pt written by training.train"
        ) from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise TrainError(
            f"{path} is not a training state of training.train (a generator checkpoint cannot be "
            f"resumed; pass latest.pt)"
        )
    if state.get("version") != STATE_VERSION:
        raise TrainError(
            f"{path} has training-state version {state.get('version')}, expected {STATE_VERSION}; "
            f"resume it with the code version that wrote it"
        )
    return state
