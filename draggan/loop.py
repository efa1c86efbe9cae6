"""The drag loop: optimise the first rows of W+ so that handles walk to their targets.

One iteration (as in the official renderer, `viz/renderer.py`): the features of
the current latent are computed once; they serve both to track the handles moved
by the previous step and, if some handle is not yet at its target, for the
motion-supervision loss of the next Adam step. The synthesis stops at the
supervising block (b128 for generators of >= 256 px) and, without a mask, runs
its high-resolution blocks only on crops around the handles (`stylegan.local`,
exact); the generator is frozen so the backward pass computes only input
gradients, and points are processed as batches; the full image is rendered only
for the result and for live-preview frames; the drag video is rendered afterwards
from latent snapshots (`DragConfig.latent_every`, `DragResult.frame_latents`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from common.device import autocast_supported
from common.random import seeded
from draggan.config import DragConfig, resolve_feature_res, resolve_stop_distance, scaled_radius
from draggan.errors import DragError
from draggan.motion import fixed_weight, mask_loss, motion_loss
from draggan.result import DragResult
from draggan.sampling import sample_upsampled
from draggan.tracking import track_points
from stylegan.generate import uint8_from_ws
from stylegan.local import crop_features, plan_crops

__all__ = ["drag"]

# callback(step, handles (N, 2) float64, image (R, R, 3) uint8 or None) -> True to stop.
DragCallback = Callable[[int, np.ndarray, "np.ndarray | None"], "bool | None"]


def drag(
    G: torch.nn.Module,
    ws0: torch.Tensor,
    handles: Any,
    targets: Any,
    mask: Any = None,
    config: DragConfig = DragConfig(),
    callback: DragCallback | None = None,
) -> DragResult:
    """Drags handle points of a generated image to target points (DragGAN).

    Convention: points are (x, y) in pixels of the generator's R x R image, x right,
    y down, pixel centres at integer coordinates. Features of block b{feature_res}
    are read at image positions through the map upsampled to R x R (see
    `draggan.sampling`), so r1, r2 and the stop distance are image pixels.

    Args:
        G: a `stylegan.Generator` (or anything with `img_resolution`, `num_ws`, `w_dim`,
            `synthesis(ws, noise_mode=)` and `synthesis.features(ws, until_res=,
            noise_mode=)`). It is not modified; parameters that require grad are
            switched off during the call and restored afterwards.
        ws0: (1, num_ws, w_dim) float initial latent (any device; moved to G's).
            In 'w' mode its row 0 is the optimised w.
        handles: (N, 2) float (x, y) handle points in [0, R - 1], N >= 1.
        targets: (N, 2) float (x, y) target points in [0, R - 1].
        mask: optional (R, R) array or tensor in [0, 1] (bool allowed), 1 = the region
            that may change; the rest is held by lambda_mask * |F - F0|.
        config: a `DragConfig`.
        callback: called after every step as `callback(step, handles, image)` with the
            tracked (N, 2) float64 handles and the progress frame (R, R, 3) uint8 when
            one was rendered at that step, else None; returning True stops the loop.

    Returns:
        `DragResult` with the final ws, handle positions and history, step count,
        convergence flag, final image, the progress frames and the latent snapshots.

    Raises:
        DragError: invalid latent, points, mask or configuration for this generator.
    """
    if not isinstance(config, DragConfig):
        raise DragError(f"config must be a DragConfig, got {type(config).__name__}")
    problem = _check_problem(G, ws0, handles, targets, mask, config)
    device = G.device if hasattr(G, "device") else next(G.parameters()).device
    autocast = _autocast(config, device)
    with _frozen(G), seeded(config.seed):
        latent = _Latent(problem.ws0.to(device=device, dtype=torch.float32), config)
        source = _FeatureSource(G, latent, problem, config, autocast)
        result = _optimize(latent, source, problem, config, device, callback)
    return result


@dataclass(frozen=True)
class _Problem:
    """The validated inputs of one drag, in the generator's image pixels."""

    ws0: torch.Tensor  # (1, num_ws, w_dim), detached
    handles: np.ndarray  # (N, 2) float64
    targets: np.ndarray  # (N, 2) float64
    mask: torch.Tensor | None  # (R, R) float32 in [0, 1], or None
    res: int  # R, the image side
    feature_res: int  # side of the supervising feature map
    r1: int  # motion-supervision radius (image px)
    r2: int  # tracking radius (image px)
    stop_distance: float  # converged when every handle is this close (image px)


def _check_problem(G: torch.nn.Module, ws0: Any, handles: Any, targets: Any, mask: Any, config: DragConfig) -> _Problem:
    """Validates the latent, points, mask and feature block against G; raises DragError."""
    res = int(G.img_resolution)
    ws0 = _check_ws(ws0, G, config)
    handles_np = _check_points("handles", handles, res)
    targets_np = _check_points("targets", targets, res)
    if len(handles_np) != len(targets_np):
        raise DragError(f"got {len(handles_np)} handles but {len(targets_np)} targets; give one target per handle")
    mask_t = _check_mask(mask, res)
    feature_res = resolve_feature_res(config, res)
    if feature_res not in G.synthesis.block_resolutions:
        raise DragError(
            f"feature_res = {feature_res} is not a block of this generator "
            f"({G.synthesis.block_resolutions}); set DragConfig.feature_res to one of them"
        )
    return _Problem(
        ws0,
        handles_np,
        targets_np,
        mask_t,
        res,
        feature_res,
        scaled_radius(config.r1, res),
        scaled_radius(config.r2, res),
        resolve_stop_distance(config, res),
    )


class _Latent:
    """The optimised part of W+ (the first `optimize_rows` rows, or one shared w) and the full ws."""

    def __init__(self, ws0: torch.Tensor, config: DragConfig):
        rows = config.optimize_rows
        self.tail = ws0[:, rows:]
        self.rows = rows
        self.shared = config.w_space == "w"
        self.param = (ws0[:, :1] if self.shared else ws0[:, :rows]).clone().requires_grad_(True)

    def build(self) -> torch.Tensor:
        """(1, num_ws, w_dim) ws from the current parameter (differentiable)."""
        head = self.param.expand(-1, self.rows, -1) if self.shared else self.param
        return torch.cat([head, self.tail], dim=1)


class _FeatureSource:
    """Features of the current latent (whole map, or crops around the handles) and full renders."""

    def __init__(self, G: torch.nn.Module, latent: _Latent, problem: _Problem, config: DragConfig, autocast):
        self.G, self.latent, self.problem, self.autocast = G, latent, problem, autocast
        # Features are read within `reach` image px of the handles of the previous step: the
        # tracking window, then the motion disc around the tracked point (+1 px for the unit
        # step along d_i, +1 for bilinear support, +1 for the sub-pixel refinement or the
        # official disc's offset).
        self.reach = problem.r2 + problem.r1 + 2 + int(config.subpixel_tracking) + int(config.official_disc_grid)
        self.plan = None
        if config.local_features and problem.mask is None:
            self.plan = plan_crops(G, problem.feature_res, problem.res, self.reach, len(problem.handles))

    def features(self, grad: bool, centers: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(1, C, h, h) map and None, or (N, C, s, s) crops around `centers` and their origins."""
        p = self.problem
        with torch.set_grad_enabled(grad), self.autocast:
            ws = self.latent.build()
            if self.plan is None:
                return self.G.synthesis.features(ws, until_res=p.feature_res, noise_mode="const").float(), None
            return crop_features(self.G, ws, centers, self.plan, p.res, p.feature_res, self.reach)

    def render(self) -> np.ndarray:
        """The full image of the current latent, (R, R, 3) uint8."""
        with torch.no_grad():
            return uint8_from_ws(self.G, self.latent.build())[0]

    def snapshot(self) -> torch.Tensor:
        """A detached CPU copy of the current ws, (1, num_ws, w_dim) float32 (no synthesis)."""
        with torch.no_grad():
            return self.latent.build().detach().cpu().clone()


class _Recorder:
    """What the loop keeps besides the latent: handle history, losses, progress frames, latent snapshots.

    Frames (`DragConfig.frame_every`) are full renders for the live preview; latent snapshots
    (`DragConfig.latent_every`) are cheap CPU copies of ws from which the video is rendered
    afterwards. Step 0 is the initial latent; the last step is always snapshotted.
    """

    def __init__(self, source: _FeatureSource, config: DragConfig, handles: np.ndarray):
        self.source = source
        self.frame_every, self.latent_every = config.frame_every, config.latent_every
        self.history = [handles.copy()]
        self.losses: list[float] = []
        self.frames: list[np.ndarray] = []
        self.frame_steps: list[int] = []
        self.latents: list[torch.Tensor] = []
        self.latent_steps: list[int] = []
        if self.frame_every:
            self.frames.append(source.render())
            self.frame_steps.append(0)
        if self.latent_every:
            self.latents.append(source.snapshot())
            self.latent_steps.append(0)

    def step(self, step: int, loss: float, handles: np.ndarray) -> np.ndarray | None:
        """Records one step's loss and tracked (N, 2) handles; returns the frame rendered at it, if any."""
        self.losses.append(loss)
        self.history.append(handles)
        image = None
        if self.frame_every and step % self.frame_every == 0:
            image = self.source.render()
            self.frames.append(image)
            self.frame_steps.append(step)
        if self.latent_every and step % self.latent_every == 0:
            self.latents.append(self.source.snapshot())
            self.latent_steps.append(step)
        return image

    def result(self, steps: int, converged: bool, stopped: bool) -> DragResult:
        """The `DragResult` after `steps` steps (renders the final image unless a frame holds it)."""
        final_image = self.frames[-1] if self.frame_steps and self.frame_steps[-1] == steps else self.source.render()
        ws_final = self.source.snapshot()
        if self.latent_every and self.latent_steps[-1] != steps:
            self.latents.append(ws_final.clone())
            self.latent_steps.append(steps)
        return DragResult(
            ws=ws_final,
            handles=self.history[-1].copy(),
            history=np.stack(self.history),
            steps=steps,
            converged=converged,
            image=final_image,
            frames=self.frames,
            frame_steps=self.frame_steps,
            frame_latents=self.latents,
            latent_steps=self.latent_steps,
            losses=np.asarray(self.losses, dtype=np.float64),
            stopped_by_callback=stopped,
        )


def _optimize(
    latent: _Latent,
    source: _FeatureSource,
    problem: _Problem,
    config: DragConfig,
    device: torch.device,
    callback: DragCallback | None,
) -> DragResult:
    """The loop: motion supervision and an Adam step, point tracking, until every handle is within the stop distance."""
    res, feature_res = problem.res, problem.feature_res
    optimizer = torch.optim.Adam([latent.param], lr=config.lr)
    handles_t = torch.as_tensor(problem.handles, dtype=torch.float32, device=device)
    targets_t = torch.as_tensor(problem.targets, dtype=torch.float32, device=device)
    feat, origin = source.features(grad=config.max_steps > 0, centers=problem.handles)
    feat0 = feat.detach()
    # f_i: the initial features at the original handles (Eq. 2).
    feat_refs = sample_upsampled(feat0, handles_t[:, None], res, origin, feature_res)[:, 0]
    weight = fixed_weight(problem.mask.to(device), feature_res) if problem.mask is not None else None
    record = _Recorder(source, config, problem.handles)
    steps = 0
    converged = stopped = False
    while True:
        # Stopping rule: every handle within the stop distance of its target, or out of steps.
        if bool(((targets_t - handles_t).norm(dim=1) <= problem.stop_distance).all()):
            converged = True
            break
        if steps >= config.max_steps or stopped:
            break
        # Motion supervision (Eq. 1), plus the mask term, and one Adam step on the latent.
        loss = motion_loss(
            feat,
            handles_t,
            targets_t,
            res,
            problem.r1,
            origin,
            feature_res,
            official_disc_grid=config.official_disc_grid,
        )
        if weight is not None and config.lambda_mask > 0:
            loss = loss + config.lambda_mask * mask_loss(feat, feat0, weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        steps += 1
        loss_value = float(loss.detach())
        del loss
        # Point tracking (Eq. 2) on the features of the new latent, which also supervise the next step.
        feat, origin = source.features(grad=steps < config.max_steps, centers=record.history[-1])
        handles_t = track_points(
            feat,
            handles_t,
            feat_refs,
            res,
            problem.r2,
            subpixel=config.subpixel_tracking,
            origin=origin,
            feature_res=feature_res,
        )
        current = handles_t.detach().cpu().numpy().astype(np.float64)
        image = record.step(steps, loss_value, current)
        if callback is not None and callback(steps, current.copy(), image):
            stopped = True
    del feat
    return record.result(steps, converged, stopped)


@contextmanager
def _frozen(module: torch.nn.Module) -> Iterator[None]:
    """Switches off requires_grad of every parameter for the duration, then restores the flags."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def _autocast(config: DragConfig, device: torch.device):
    if config.autocast is None:
        return nullcontext()
    if config.autocast == "float16" and device.type == "cpu":
        raise DragError("DragConfig.autocast = 'float16' is not supported on the CPU; use 'bfloat16' or None")
    if config.autocast == "bfloat16" and device.type == "mps":
        raise DragError("DragConfig.autocast = 'bfloat16' is not supported on MPS; use 'float16' or None")
    if not autocast_supported(device.type):
        raise DragError(
            f"DragConfig.autocast on {device.type} needs torch >= 2.5 (this is {torch.__version__}); "
            "upgrade torch or use autocast=None"
        )
    dtype = torch.bfloat16 if config.autocast == "bfloat16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _check_ws(ws0: Any, G: torch.nn.Module, config: DragConfig) -> torch.Tensor:
    if not isinstance(ws0, torch.Tensor) or not ws0.is_floating_point():
        raise DragError(
            f"ws0 must be a float torch.Tensor of shape (1, {G.num_ws}, {G.w_dim}), got {type(ws0).__name__}"
        )
    if tuple(ws0.shape) != (1, G.num_ws, G.w_dim):
        raise DragError(
            f"ws0 must have shape (1, {G.num_ws}, {G.w_dim}) (one W+ latent of this generator), got {tuple(ws0.shape)}"
        )
    if not bool(torch.isfinite(ws0).all()):
        raise DragError("ws0 contains NaN or inf; pass the latent from a successful inversion or G.mapping")
    if config.optimize_rows > G.num_ws:
        raise DragError(
            f"DragConfig.optimize_rows = {config.optimize_rows} exceeds this generator's "
            f"num_ws = {G.num_ws}; use at most {G.num_ws}"
        )
    return ws0.detach()


def _check_points(name: str, points: Any, res: int) -> np.ndarray:
    if isinstance(points, torch.Tensor):
        points = points.detach().cpu().numpy()
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DragError(f"{name} must be an (N, 2) array of (x, y) pixels, got {type(points).__name__}") from exc
    if arr.size == 0:
        raise DragError(f"{name} is empty; give at least one (x, y) point")
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise DragError(f"{name} must have shape (N, 2) of (x, y) pixels, got {arr.shape}")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DragError(f"{name}[{i}] = {tuple(arr[i])} is not finite; give finite (x, y) pixels")
    outside = ((arr < 0) | (arr > res - 1)).any(axis=1)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise DragError(
            f"{name}[{i}] = {tuple(arr[i])} lies outside the {res}x{res} image; (x, y) must be in [0, {res - 1}]"
        )
    return arr


def _check_mask(mask: Any, res: int) -> torch.Tensor | None:
    if mask is None:
        return None
    if isinstance(mask, torch.Tensor):
        m = mask.detach().cpu().to(torch.float32)
    else:
        try:
            m = torch.as_tensor(np.asarray(mask, dtype=np.float32))
        except (TypeError, ValueError) as exc:
            raise DragError(f"mask must be an ({res}, {res}) array in [0, 1], got {type(mask).__name__}") from exc
    if tuple(m.shape) != (res, res):
        raise DragError(f"mask must have shape ({res}, {res}) (the generator's image), got {tuple(m.shape)}")
    if not bool(torch.isfinite(m).all()) or float(m.min()) < 0 or float(m.max()) > 1:
        raise DragError("mask values must be finite and in [0, 1] (1 = may move, 0 = fixed)")
    return m
