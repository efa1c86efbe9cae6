"""Pivotal Tuning Inversion (Roich et al. 2022, danielroich/PTI).

With the pivot latent frozen, a deep copy of the generator is tuned so that
G(pivot) reproduces the target: Adam (lr 3e-4) on L2 + LPIPS-alex, at most 350
steps, stopping as soon as LPIPS <= 0.06 (`training/coaches/single_id_coach.py`).
The optional locality regulariser (`criteria/localitly_regulizer.py`) keeps the
tuned generator close to the original on latents a fixed distance (alpha = 30)
from the pivot toward random w samples, which matters for DragGAN: an edit moves
the latent away from the pivot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from common.progress import progress_bar
from inversion.config import InversionConfig
from inversion.errors import InversionError
from inversion.lpips_loss import LPIPSLoss
from inversion.metrics import psnr_from_mse
from inversion.project import Callback, check_target_tensor, generator_with_noise, synthesize
from stylegan import Generator


@dataclass(frozen=True, eq=False)  # Tensor fields: compare by identity.
class PTIResult:
    """Output of `pivotal_tuning`.

    Attributes:
        G: the tuned copy of the generator, eval mode, requires_grad False.
        losses: reconstruction loss (pti_l2_weight * MSE + pti_lpips_weight * LPIPS)
            of every evaluated state: losses[0] is the untuned generator at the
            pivot, losses[-1] the returned generator.
        lpips: the LPIPS term of the same states.
        locality: the locality loss of each regularised step (empty when off).
        stopped_early: LPIPS reached the early-stop value, or PSNR `pti_stop_psnr`, before `pti_steps`.
        psnr: PSNR (dB, images in [-1, 1] as [0, 255]) of the returned generator's reconstruction.
        steps: tuning steps taken.
    """

    G: Generator
    losses: list[float]
    lpips: list[float]
    locality: list[float]
    stopped_early: bool
    psnr: float = float("nan")
    steps: int = 0


def locality_latents(
    G: Generator, pivot: torch.Tensor, num_samples: int, alpha: float, truncation_psi: float, generator: torch.Generator
) -> torch.Tensor:
    """Latents at distance `alpha` from the pivot toward random w samples (PTI's `get_morphed_w_code`).

    Args:
        G: generator whose mapping draws the samples (not modified).
        pivot: (1, num_ws, w_dim).
        num_samples: how many latents.
        alpha: Euclidean distance from the pivot, over the whole (num_ws, w_dim) latent.
        truncation_psi: truncation of the random samples (PTI: 0.5).
        generator: CPU random generator for z.

    Returns:
        (num_samples, num_ws, w_dim) float32 on the pivot's device.
    """
    z = torch.randn([num_samples, G.z_dim], generator=generator).to(pivot.device)
    c = torch.zeros([num_samples, G.c_dim], device=pivot.device) if G.c_dim else None
    with torch.no_grad():
        ws = G.mapping(z, c, truncation_psi=truncation_psi)
    direction = ws - pivot
    norm = direction.flatten(1).norm(dim=1).clamp_min(1e-8).reshape(-1, 1, 1)
    return pivot + alpha * direction / norm


def pivotal_tuning(
    G: Generator,
    pivot: torch.Tensor,
    target: torch.Tensor,
    lpips_loss: LPIPSLoss,
    config: InversionConfig = InversionConfig(),
    *,
    noise: dict[str, torch.Tensor] | None = None,
    progress: bool = False,
    callback: Callback | None = None,
) -> PTIResult:
    """Tunes a copy of G so that it reproduces `target` at the frozen `pivot`.

    Args:
        G: generator to start from; never modified (a deep copy is tuned).
        pivot: (1, num_ws, w_dim) latent, e.g. the W projection.
        target: (1, 3, R, R) float image in [-1, 1] at G.img_resolution, on G's device.
        lpips_loss: the LPIPS loss (`config.pti_lpips_net`), on G's device.
        config: `pti_steps`, `pti_lr`, loss weights, early-stop threshold, locality options.
        noise: noise maps found by the projection, written into the copy's
            `noise_const` buffers before tuning, or None to keep G's.
        progress: show a progress bar (`common.progress`).
        callback: called as callback('pti', step, pti_steps, loss) after each evaluated step.

    Returns:
        PTIResult with the tuned generator.
    """
    _check_pivot(G, pivot, target)
    pivot = pivot.detach().to(device=target.device, dtype=torch.float32)
    G_tuned = generator_with_noise(G, noise)
    # Only the synthesis network shapes G(pivot); the mapping is not used and stays frozen.
    params = list(G_tuned.synthesis.parameters())
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(params, lr=config.pti_lr)
    gen = torch.Generator().manual_seed(config.seed + 2)
    reconstruction = _Reconstruction(G_tuned, pivot, target, lpips_loss, config)
    lpips_stop = config.effective_pti_lpips_threshold

    locality: list[float] = []
    stopped_early = False
    for step in progress_bar(range(config.pti_steps), desc="pivotal tuning", disable=not progress, leave=False):
        rec, mse = reconstruction.evaluate(grad=True)
        if not math.isfinite(reconstruction.losses[-1]):
            raise InversionError(
                f"pivotal tuning diverged (loss {reconstruction.losses[-1]} at step {step}): lower pti_lr"
            )
        if callback is not None:
            callback("pti", step, config.pti_steps, reconstruction.losses[-1])
        # Early stop, checked before the update as PTI does: LPIPS, or PSNR when asked for.
        if reconstruction.lpips[-1] <= lpips_stop or (
            config.pti_stop_psnr > 0 and psnr_from_mse(mse, data_range=2.0) >= config.pti_stop_psnr
        ):
            stopped_early = True
            break
        loss = rec
        if config.locality_regularization and step % config.locality_interval == 0:
            reg = _locality_loss(G, G_tuned, pivot, lpips_loss, config, gen)
            locality.append(float(reg.detach()))
            loss = loss + reg
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if not stopped_early:
        _, mse = reconstruction.evaluate(grad=False)  # the returned generator's state
    G_tuned.requires_grad_(False).eval()
    losses = reconstruction.losses
    return PTIResult(
        G=G_tuned,
        losses=losses,
        lpips=reconstruction.lpips,
        locality=locality,
        stopped_early=stopped_early,
        psnr=psnr_from_mse(mse, data_range=2.0),
        steps=len(losses) - (0 if stopped_early else 1),
    )


def _check_pivot(G: Generator, pivot: torch.Tensor, target: torch.Tensor) -> None:
    """Raises InversionError unless target is G's image and pivot one W+ latent of G."""
    check_target_tensor(G, target)
    if pivot.shape != (1, G.num_ws, G.w_dim):
        raise InversionError(
            f"pivot must have shape (1, {G.num_ws}, {G.w_dim}), got {tuple(pivot.shape)}: "
            f"broadcast a W latent to the generator's num_ws rows"
        )


class _Reconstruction:
    """PTI's reconstruction loss at the pivot, pti_l2_weight * MSE + pti_lpips_weight * LPIPS, and its history."""

    def __init__(
        self,
        G_tuned: Generator,
        pivot: torch.Tensor,
        target: torch.Tensor,
        lpips_loss: LPIPSLoss,
        config: InversionConfig,
    ):
        self.G_tuned, self.pivot, self.target, self.lpips_loss, self.config = G_tuned, pivot, target, lpips_loss, config
        with torch.no_grad():
            self.target_features = lpips_loss.features(target)
        self.losses: list[float] = []  # the loss of every evaluated state
        self.lpips: list[float] = []  # its LPIPS term

    def evaluate(self, grad: bool) -> tuple[torch.Tensor, float]:
        """The loss of G_tuned now (recorded in `losses` and `lpips`) and the MSE of its image."""
        with torch.set_grad_enabled(grad):
            synth = synthesize(self.G_tuned, self.pivot)
            lp = self.lpips_loss.distance(self.lpips_loss.features(synth), self.target_features).sum()
            mse = (synth - self.target).square().mean()
            rec = self.config.pti_l2_weight * mse + self.config.pti_lpips_weight * lp
        self.losses.append(float(rec.detach()))
        self.lpips.append(float(lp.detach()))
        return rec, float(mse.detach())


def _locality_loss(
    G: Generator,
    G_tuned: Generator,
    pivot: torch.Tensor,
    lpips_loss: LPIPSLoss,
    config: InversionConfig,
    gen: torch.Generator,
) -> torch.Tensor:
    """PTI's locality regulariser: L2 and LPIPS between original and tuned G away from the pivot.

    Both generators run with noise_mode='none' as in PTI, so the noise maps of
    the copy do not count as a change.
    """
    ws = locality_latents(
        G, pivot, config.locality_num_samples, config.locality_alpha, config.locality_truncation_psi, gen
    )
    with torch.no_grad():
        old = synthesize(G, ws, noise_mode="none")
    new = synthesize(G_tuned, ws, noise_mode="none")
    reg = new.new_zeros([])
    if config.locality_l2_weight > 0:
        reg = reg + config.locality_l2_weight * (new - old).square().mean()
    if config.locality_lpips_weight > 0:
        reg = reg + config.locality_lpips_weight * lpips_loss(new, old).mean()
    return reg
