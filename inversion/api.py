"""`invert`: aligned crop -> pivot latent (+ tuned generator), and its saved form.

from inversion import invert, InversionConfig, InversionResult
result = invert(G, crop, method="pti")          # crop: uint8 (R, R, 3) RGB
result.save("inversion.pt")
result = InversionResult.load("inversion.pt")
edit_with(result.G, result.ws)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from common.errors import CheckpointError
from common.fileio import atomic_save
from common.hashing import generator_sha256
from common.timing import StageTimer
from inversion.config import InversionConfig
from inversion.errors import InversionError
from inversion.lpips_loss import LPIPSLoss
from inversion.project import ProjectionResult, generator_with_noise, project_w, project_wplus
from inversion.pti import pivotal_tuning
from stylegan import Generator, generator_from_dict, generator_to_dict, uint8_from_ws

METHODS = ("w", "w+", "pti")
FORMAT = "draggan-pipeline.inversion"
VERSION = 2  # 2: the base generator is identified by its SHA-256 (was a float checksum)


@dataclass(frozen=True, eq=False)  # Tensor fields: compare by identity.
class InversionResult:
    """What `invert` found.

    Attributes:
        method: 'w', 'w+' or 'pti'.
        ws: (1, num_ws, w_dim) float32 CPU pivot latent (for 'w' all rows equal).
        G: the generator to edit with: the caller's G itself for 'w' / 'w+'
            without noise optimisation, a copy holding the optimised noise maps
            for 'w' / 'w+' with `optimize_noise`, the tuned copy for 'pti'.
            Eval mode, requires_grad False.
        reconstruction: (R, R, 3) uint8 RGB, G.synthesis(ws, noise_mode='const').
        losses: stage ('w', 'w+', 'pti', 'pti_lpips', 'pti_locality') -> loss per step.
        timings: stage ('setup', 'w_avg', 'w', 'w+', 'pti', 'total') -> seconds.
        config: the configuration used.
        tuned: True when G differs from the caller's generator (its weights are saved).
        base_sha256: `common.hashing.generator_sha256` of the caller's generator,
            so that `load` can check it is given the right base generator.
    """

    method: str
    ws: torch.Tensor
    G: Generator
    reconstruction: np.ndarray
    losses: dict[str, list[float]]
    timings: dict[str, float]
    config: InversionConfig
    tuned: bool
    base_sha256: str

    def save(self, path: str | os.PathLike) -> None:
        """Writes the result with torch.save, readable with `torch.load(weights_only=True)`.

        The generator's weights are included only when `tuned` (PTI, or noise
        maps optimised); otherwise `load` needs the base generator. Written to a
        temporary file and renamed, so a crash never leaves half a file.
        """
        base = self.G.init_kwargs
        payload = {
            "format": FORMAT,
            "version": VERSION,
            "method": self.method,
            "ws": self.ws.detach().cpu().to(torch.float32).contiguous(),
            "reconstruction": torch.from_numpy(np.array(self.reconstruction, copy=True)),
            "losses": {k: [float(v) for v in vals] for k, vals in self.losses.items()},
            "timings": {k: float(v) for k, v in self.timings.items()},
            "config": self.config.to_dict(),
            "base_generator_config": dict(base),
            "base_generator_sha256": self.base_sha256,
            "generator": generator_to_dict(self.G) if self.tuned else None,
        }
        atomic_save(payload, path)

    @classmethod
    def load(
        cls, path: str | os.PathLike, G: Generator | None = None, device: torch.device | str | None = None
    ) -> InversionResult:
        """Reads a file written by `save`.

        Args:
            path: the file.
            G: the base generator the inversion was made with; required when the
                file holds no generator ('w' / 'w+' without noise optimisation),
                ignored otherwise.
            device: where to put a stored generator (default: G's device, else CPU).

        Raises:
            CheckpointError: not an inversion file, or a newer version.
            InversionError: the base generator is needed but missing or does not match.
        """
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise CheckpointError(f"inversion file {path} does not exist: run invert(...).save(path) first") from None
        except Exception as exc:  # noqa: BLE001 - every unreadable file gets the same message.
            raise CheckpointError(
                f"cannot read inversion file {path} ({exc}): write it with InversionResult.save"
            ) from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CheckpointError(f"{path} is not an inversion file: write it with InversionResult.save")
        if data.get("version") != VERSION:
            raise CheckpointError(
                f"{path} has inversion format version {data.get('version')}, this code reads "
                f"{VERSION}: upgrade draggan-pipeline"
            )
        stored = data["generator"]
        if stored is not None:
            device = device if device is not None else (G.device if G is not None else "cpu")
            result_G = generator_from_dict(stored, device=device, source=f"{path} (tuned generator)")
        else:
            if G is None:
                raise InversionError(
                    f"{path} holds no generator (method {data['method']!r} left it unchanged): "
                    f"pass G=<the generator it was inverted with> to InversionResult.load"
                )
            if generator_sha256(G) != data["base_generator_sha256"]:
                raise InversionError(
                    f"the generator passed to InversionResult.load is not the one {path} was "
                    f"inverted with: pass that generator (same checkpoint)"
                )
            result_G = G
        return cls(
            method=data["method"],
            ws=data["ws"],
            G=result_G,
            reconstruction=data["reconstruction"].numpy(),
            losses=data["losses"],
            timings=data["timings"],
            config=InversionConfig.from_dict(data["config"]),
            tuned=stored is not None,
            base_sha256=str(data["base_generator_sha256"]),
        )


def lpips_losses(
    config: InversionConfig, device: torch.device | str, pti: bool = True
) -> tuple[LPIPSLoss, LPIPSLoss | None]:
    """The LPIPS losses of an inversion, built from its config.

    Args:
        config: gives the nets (`lpips_net`, `pti_lpips_net`), the backbone and the resolutions.
        device: where the losses run.
        pti: also build the tuning loss.

    Returns:
        (projection loss, PTI loss or None when not `pti`).

    Raises:
        MissingWeightsError: a backbone is not available offline.
    """
    proj = LPIPSLoss.build(
        config.lpips_net, config.lpips_backbone, device, config.lpips_max_resolution, config.lpips_min_resolution
    )
    if not pti:
        return proj, None
    tune = LPIPSLoss.build(
        config.pti_lpips_net,
        config.lpips_backbone,
        device,
        config.pti_lpips_max_resolution,
        config.lpips_min_resolution,
    )
    return proj, tune


def target_to_tensor(target: np.ndarray, G: Generator) -> torch.Tensor:
    """Checks an aligned crop and converts it for the network.

    Args:
        target: (R, R, 3) uint8 RGB with R = G.img_resolution.
        G: the generator (gives R and the device).

    Returns:
        (1, 3, R, R) float32 in [-1, 1] on G's device.

    Raises:
        InversionError: wrong type, dtype, shape or size.
    """
    r = G.img_resolution
    if not isinstance(target, np.ndarray):
        raise InversionError(
            f"target must be a numpy uint8 array (H, W, 3), got {type(target).__name__}: convert it with np.asarray"
        )
    if target.dtype != np.uint8:
        raise InversionError(
            f"target must be uint8 RGB, got dtype {target.dtype}: convert floats in [0, 1] with "
            f"(img * 255).round().astype(np.uint8)"
        )
    if target.ndim != 3 or target.shape[2] != 3:
        raise InversionError(
            f"target must have shape (H, W, 3) RGB, got {target.shape}: drop alpha / expand gray first"
        )
    if target.shape[:2] != (r, r):
        raise InversionError(
            f"target is {target.shape[1]}x{target.shape[0]} but the generator makes {r}x{r} "
            f"images: align and resize the photo to {r}x{r} first (align package)"
        )
    img = torch.from_numpy(np.array(target, copy=True)).permute(2, 0, 1)[None].to(G.device, torch.float32)
    return img / 127.5 - 1


def invert(
    G: Generator,
    target: np.ndarray,
    method: str = "pti",
    config: InversionConfig = InversionConfig(),
    *,
    progress: bool = False,
    callback: Callable[[str, int, int, float], None] | None = None,
) -> InversionResult:
    """Inverts an aligned crop into G.

    Stages: 'w' = W projection; 'w+' = W projection (unless
    `config.wplus_init == 'w_avg'`) then W+ projection; 'pti' = the pivot
    projection (`config.pti_pivot`) then Pivotal Tuning of a copy of G.

    Args:
        G: generator; never modified.
        target: (R, R, 3) uint8 RGB at R = G.img_resolution (an aligned crop).
        method: 'w', 'w+' or 'pti'.
        config: every option (see `InversionConfig`).
        progress: show tqdm bars per stage.
        callback: called as callback(stage, step, num_steps, loss) after each step.

    Returns:
        InversionResult (pivot, generator to edit with, reconstruction, losses, timings).

    Raises:
        InversionError: bad target, method or config.
        MissingWeightsError: the LPIPS backbone is not available offline.
    """
    t_start = time.perf_counter()
    if method not in METHODS:
        raise InversionError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(config, InversionConfig):
        raise InversionError(f"config must be an InversionConfig, got {type(config).__name__}")
    target_img = target_to_tensor(target, G)
    timer = StageTimer()
    losses: dict[str, list[float]] = {}
    with timer("setup"):
        proj_lpips, pti_lpips = lpips_losses(config, G.device, pti=method == "pti")
    with timer("w_avg"):
        w_avg, w_std = G.mean_w(num_samples=config.w_avg_samples, seed=config.seed)
    proj = _project(G, target_img, method, config, proj_lpips, w_avg, float(w_std), timer, losses, progress, callback)
    ws, noise = proj.ws, proj.noise

    if method == "pti":
        with timer("pti"):
            tuned = pivotal_tuning(
                G, ws, target_img, pti_lpips, config, noise=noise, progress=progress, callback=callback
            )
        losses["pti"], losses["pti_lpips"] = tuned.losses, tuned.lpips
        if tuned.locality:
            losses["pti_locality"] = tuned.locality
        result_G, is_tuned = tuned.G, True
    elif noise is not None:
        result_G, is_tuned = generator_with_noise(G, noise), True
    else:
        result_G, is_tuned = G, False

    reconstruction = uint8_from_ws(result_G, ws, force_fp32=True)[0]
    timings = timer.seconds
    timings["total"] = time.perf_counter() - t_start
    return InversionResult(
        method=method,
        ws=ws.detach().to("cpu", torch.float32),
        G=result_G,
        reconstruction=reconstruction,
        losses=losses,
        timings=timings,
        config=config,
        tuned=is_tuned,
        base_sha256=generator_sha256(G),
    )


def _project(
    G: Generator,
    target_img: torch.Tensor,
    method: str,
    config: InversionConfig,
    proj_lpips: LPIPSLoss,
    w_avg: torch.Tensor,
    w_std: float,
    timer: StageTimer,
    losses: dict[str, list[float]],
    progress: bool,
    callback: Callable[[str, int, int, float], None] | None,
) -> ProjectionResult:
    """The projection stages `method` needs: W, then W+ (from W, or from w_avg); records seconds and losses."""
    need_w = (
        method == "w"
        or (method == "w+" and config.wplus_init == "w")
        or (method == "pti" and (config.pti_pivot == "w" or config.wplus_init == "w"))
    )
    need_wplus = method == "w+" or (method == "pti" and config.pti_pivot == "w+")
    proj: ProjectionResult | None = None
    if need_w:
        with timer("w"):
            proj = project_w(G, target_img, proj_lpips, w_avg, w_std, config, progress=progress, callback=callback)
        losses["w"] = proj.losses
    if need_wplus:
        with timer("w+"):
            proj = project_wplus(
                G,
                target_img,
                proj_lpips,
                proj.ws if proj is not None else w_avg,
                w_std,
                config,
                noise=proj.noise if proj is not None else None,
                progress=progress,
                callback=callback,
            )
        losses["w+"] = proj.losses
    assert proj is not None
    return proj
