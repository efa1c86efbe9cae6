"""W and W+ projection: optimise a latent so that G reproduces a target image.

Follows NVlabs stylegan2-ada-pytorch `projector.py`: start at w_avg, Adam with a
ramped learning rate, decaying Gaussian noise on the latent, optionally
optimised noise maps kept near N(0, 1) by a multi-scale autocorrelation penalty
and renormalised after every step, LPIPS against the target (both area-
downsampled to 256 px when larger). Unlike PTI's copy of it, the latent is
broadcast to the generator's own `num_ws` (PTI hard-codes 18).

These functions never modify `G`: noise maps being optimised are passed to the
synthesis network with `torch.func.functional_call` in place of its
`noise_const` buffers and returned in the result.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from common.progress import progress_bar
from inversion.config import InversionConfig
from inversion.errors import InversionError
from inversion.lpips_loss import LPIPSLoss
from stylegan import Generator

# callback(stage, step, num_steps, loss): called after every optimisation step.
Callback = Callable[[str, int, int, float], None]


@dataclass(frozen=True, eq=False)  # Tensor fields: compare by identity.
class ProjectionResult:
    """Output of `project_w` / `project_wplus`.

    Attributes:
        ws: (1, num_ws, w_dim) float32 projected latent, detached, on G's device
            (all rows equal for W projection).
        noise: optimised noise maps {synthesis buffer name: (res, res)} to use in
            place of G's `noise_const` buffers, or None when noise was not optimised.
        losses: reconstruction loss (LPIPS [+ mse_weight * MSE]) at every step.
    """

    ws: torch.Tensor
    noise: dict[str, torch.Tensor] | None
    losses: list[float]


def noise_buffer_names(G: Generator) -> list[str]:
    """Names of the `noise_const` buffers relative to `G.synthesis` ('b8.conv0.noise_const', ...)."""
    return [name for name, _ in G.synthesis.named_buffers() if name.endswith("noise_const")]


def generator_with_noise(G: Generator, noise: dict[str, torch.Tensor] | None) -> Generator:
    """A deep copy of G whose `noise_const` buffers hold `noise` (G itself is untouched).

    Args:
        G: the generator to copy.
        noise: {synthesis buffer name: (res, res)} maps (e.g. `ProjectionResult.noise`) written
            into the copy, or None / {} to keep G's own maps.

    Returns:
        The copy, eval mode, requires_grad False, on G's device.
    """
    G_copy = copy.deepcopy(G).eval().requires_grad_(False)
    if noise:
        buffers = dict(G_copy.synthesis.named_buffers())
        with torch.no_grad():
            for name, value in noise.items():
                buffers[name].copy_(value)
    return G_copy


def synthesize(
    G: Generator, ws: torch.Tensor, noise: dict[str, torch.Tensor] | None = None, noise_mode: str = "const"
) -> torch.Tensor:
    """G.synthesis(ws) in fp32, optionally with `noise` in place of the `noise_const` buffers.

    Args:
        G: generator (not modified).
        ws: (B, num_ws, w_dim) latents.
        noise: {synthesis buffer name: (res, res)} overriding G's noise maps, or None.
        noise_mode: 'const' (G's or `noise`'s maps), 'random' or 'none'.

    Returns:
        (B, 3, R, R) float32 images in about [-1, 1], differentiable w.r.t. ws,
        the noise maps and G's parameters.
    """
    if noise:
        return torch.func.functional_call(G.synthesis, noise, (ws,), {"noise_mode": noise_mode, "force_fp32": True})
    return G.synthesis(ws, noise_mode=noise_mode, force_fp32=True)


def learning_rate(step: int, num_steps: int, peak: float, rampup: float = 0.05, rampdown: float = 0.25) -> float:
    """NVlabs' projector schedule: linear ramp-up, cosine ramp-down (fractions of num_steps)."""
    t = step / num_steps
    ramp = min(1.0, (1.0 - t) / rampdown) if rampdown > 0 else 1.0
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    if rampup > 0:
        ramp = ramp * min(1.0, t / rampup)
    return peak * ramp


def latent_noise_scale(step: int, num_steps: int, w_std: float, factor: float = 0.05, ramp: float = 0.75) -> float:
    """Std of the noise added to the latent: factor * w_std, falling quadratically to 0 at `ramp`."""
    t = step / num_steps
    return w_std * factor * max(0.0, 1.0 - t / ramp) ** 2


def noise_regularization(noise_maps: list[torch.Tensor]) -> torch.Tensor:
    """NVlabs' multi-scale noise penalty: squared autocorrelation at lag 1 (x and y) down to 8x8.

    Args:
        noise_maps: (res, res) tensors.

    Returns:
        Scalar tensor, 0 for uncorrelated noise in expectation.
    """
    reg = noise_maps[0].new_zeros([])
    for v in noise_maps:
        n = v[None, None]
        while True:
            reg = reg + (n * torch.roll(n, shifts=1, dims=3)).mean().square()
            reg = reg + (n * torch.roll(n, shifts=1, dims=2)).mean().square()
            if n.shape[2] <= 8:
                break
            n = F.avg_pool2d(n, kernel_size=2)
    return reg


def initial_noise(G: Generator, seed: int) -> dict[str, torch.Tensor]:
    """Freshly drawn N(0, 1) noise maps for every `noise_const` buffer (NVlabs re-draws them)."""
    gen = torch.Generator().manual_seed(seed)
    buffers = dict(G.synthesis.named_buffers())
    return {
        name: torch.randn(buffers[name].shape, generator=gen).to(buffers[name].device) for name in noise_buffer_names(G)
    }


def project_w(
    G: Generator,
    target: torch.Tensor,
    lpips_loss: LPIPSLoss,
    w_avg: torch.Tensor,
    w_std: float,
    config: InversionConfig = InversionConfig(),
    *,
    progress: bool = False,
    callback: Callback | None = None,
) -> ProjectionResult:
    """Projects a target into W (one w broadcast to all `num_ws` rows).

    Args:
        G: generator (not modified).
        target: (1, 3, R, R) float image in [-1, 1] at G.img_resolution, on G's device.
        lpips_loss: the LPIPS loss (`config.lpips_net`), on G's device.
        w_avg: (1, w_dim) start point (mean of mapped samples).
        w_std: scale of W (sqrt of the mean squared distance to w_avg).
        config: steps `w_steps`, peak rate `w_lr` and the shared projection options.
        progress: show a progress bar (`common.progress`).
        callback: called as callback('w', step, num_steps, loss) after each step.

    Returns:
        ProjectionResult with ws (1, num_ws, w_dim).
    """
    ws_init = w_avg.detach().reshape(1, 1, G.w_dim)
    return _project(
        G,
        target,
        lpips_loss,
        ws_init,
        float(w_std),
        config,
        stage="w",
        num_steps=config.w_steps,
        peak_lr=config.w_lr,
        noise=None,
        pivot=None,
        seed=config.seed,
        progress=progress,
        callback=callback,
    )


def project_wplus(
    G: Generator,
    target: torch.Tensor,
    lpips_loss: LPIPSLoss,
    ws_init: torch.Tensor,
    w_std: float,
    config: InversionConfig = InversionConfig(),
    *,
    noise: dict[str, torch.Tensor] | None = None,
    pivot: torch.Tensor | None = None,
    progress: bool = False,
    callback: Callback | None = None,
) -> ProjectionResult:
    """Projects a target into W+ (one w per synthesis layer).

    Args:
        G: generator (not modified).
        target: (1, 3, R, R) float image in [-1, 1] at G.img_resolution, on G's device.
        lpips_loss: the LPIPS loss (`config.lpips_net`), on G's device.
        ws_init: (1, num_ws, w_dim) start point, or (1, w_dim) broadcast to all rows.
        w_std: scale of W.
        config: steps `wplus_steps`, peak rate `wplus_lr`, `wplus_pivot_weight` and
            the shared projection options.
        noise: noise maps to continue from (e.g. the W stage's), or None to draw
            fresh ones when `config.optimize_noise`.
        pivot: (1, num_ws, w_dim) latent that `wplus_pivot_weight` pulls toward
            (default: ws_init).
        progress: show a progress bar (`common.progress`).
        callback: called as callback('w+', step, num_steps, loss) after each step.

    Returns:
        ProjectionResult with ws (1, num_ws, w_dim).
    """
    ws_init = ws_init.detach().reshape(1, -1, G.w_dim)
    if ws_init.shape[1] == 1:
        ws_init = ws_init.repeat(1, G.num_ws, 1)
    if ws_init.shape[1] != G.num_ws:
        raise InversionError(
            f"ws_init has {ws_init.shape[1]} rows but the generator has num_ws={G.num_ws}: "
            f"pass (1, {G.num_ws}, {G.w_dim}) or (1, {G.w_dim})"
        )
    pivot = ws_init if pivot is None else pivot.detach().reshape(1, G.num_ws, G.w_dim)
    return _project(
        G,
        target,
        lpips_loss,
        ws_init,
        float(w_std),
        config,
        stage="w+",
        num_steps=config.wplus_steps,
        peak_lr=config.wplus_lr,
        noise=noise,
        pivot=pivot,
        seed=config.seed + 1,
        progress=progress,
        callback=callback,
    )


def _project(
    G: Generator,
    target: torch.Tensor,
    lpips_loss: LPIPSLoss,
    ws_init: torch.Tensor,
    w_std: float,
    config: InversionConfig,
    *,
    stage: str,
    num_steps: int,
    peak_lr: float,
    noise: dict[str, torch.Tensor] | None,
    pivot: torch.Tensor | None,
    seed: int,
    progress: bool,
    callback: Callback | None,
) -> ProjectionResult:
    """Shared loop: ws_init (1, 1 | num_ws, w_dim); one row is broadcast (W), num_ws rows are free (W+)."""
    check_target_tensor(G, target)
    device = target.device
    gen = torch.Generator().manual_seed(seed)
    w_opt = ws_init.detach().clone().to(device=device, dtype=torch.float32).requires_grad_(True)
    params = [w_opt]
    if config.optimize_noise and num_steps > 0:
        noise = initial_noise(G, seed + 1000) if noise is None else noise
        noise = {name: buf.detach().clone().to(device).requires_grad_(True) for name, buf in noise.items()}
        params += list(noise.values())
    elif noise is not None:  # Fixed maps (from an earlier stage), or no steps to optimise them in.
        noise = {name: buf.detach().clone().to(device) for name, buf in noise.items()}
    optimizer = torch.optim.Adam(params, betas=(0.9, 0.999), lr=peak_lr)
    with torch.no_grad():
        target_features = lpips_loss.features(target)

    losses: list[float] = []
    for step in progress_bar(range(num_steps), desc=f"project {stage}", disable=not progress, leave=False):
        lr = learning_rate(step, num_steps, peak_lr, config.lr_rampup, config.lr_rampdown)
        for group in optimizer.param_groups:
            group["lr"] = lr
        scale = latent_noise_scale(step, num_steps, w_std, config.initial_noise_factor, config.noise_ramp_length)
        ws = w_opt + torch.randn(w_opt.shape, generator=gen).to(device) * scale
        if ws.shape[1] == 1:
            ws = ws.repeat(1, G.num_ws, 1)
        synth = synthesize(G, ws, noise)

        dist = lpips_loss.distance(lpips_loss.features(synth), target_features).sum()
        if config.mse_weight > 0:
            dist = dist + config.mse_weight * (synth - target).square().mean()
        loss = dist
        if params[1:] and config.noise_regularize_weight > 0:
            loss = loss + config.noise_regularize_weight * noise_regularization(list(noise.values()))
        if pivot is not None and config.wplus_pivot_weight > 0:
            loss = loss + config.wplus_pivot_weight * (w_opt - pivot).square().sum(dim=-1).mean()

        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if params[1:]:
            with torch.no_grad():
                for buf in noise.values():  # Keep the maps at zero mean, unit variance (NVlabs).
                    buf -= buf.mean()
                    buf *= buf.square().mean().rsqrt()

        value = float(dist.detach())
        if not math.isfinite(value):
            raise InversionError(
                f"{stage} projection diverged (loss {value} at step {step}): lower the "
                f"{'w_lr' if stage == 'w' else 'wplus_lr'} learning rate"
            )
        losses.append(value)
        if callback is not None:
            callback(stage, step, num_steps, value)

    ws = w_opt.detach()
    if ws.shape[1] == 1:
        ws = ws.repeat(1, G.num_ws, 1)
    if noise is not None:
        noise = {name: buf.detach() for name, buf in noise.items()}
    return ProjectionResult(ws=ws, noise=noise, losses=losses)


def check_target_tensor(G: Generator, target: torch.Tensor) -> None:
    """Raises InversionError unless target is (1, 3, R, R) float at G.img_resolution."""
    r = G.img_resolution
    if not torch.is_tensor(target) or target.shape != (1, G.img_channels, r, r) or not target.is_floating_point():
        shape = tuple(target.shape) if torch.is_tensor(target) else type(target).__name__
        raise InversionError(
            f"target tensor must be float (1, {G.img_channels}, {r}, {r}) in [-1, 1], got {shape}: "
            f"convert the uint8 image with inversion.api.target_to_tensor"
        )
