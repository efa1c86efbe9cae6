"""Train a small StyleGAN2 on a folder of aligned images (the project's default face model).

Reproducing the shipped 128 px face model (defaults of `TrainConfig`, seed 0):

    # 1. CPU, needs dlib (align/): align UTKFace with the inference alignment, minus the
    #    300 hold-out names; JPEG q90 keeps the set at ~50 MB for copying to a GPU machine.
    python -m training.prepare --images ../shared/data/utkface --out data/utkface128 \
        --size 128 --format jpg --jpeg-quality 90 --workers 2
    # 2. GPU (bf16 autocast on CUDA): about 72 GFLOP per real image shown.
    python -m training.train --data data/utkface128 --out runs/utkface128 --kimg 1000
    #    On machines that run one command for a limited time, add --max-minutes M and repeat
    #    with --resume runs/utkface128/latest.pt until kimg is reached (exact resume).
    # 3. CPU: quality proxy (dlib face rate of 200 samples at truncation 0.7, bar 80%).
    python -m evaluation.face_model_report --checkpoint runs/utkface128/network-final-fp16.pt

Follows StyleGAN2 / StyleGAN2-ADA (NVlabs stylegan2-ada-pytorch `training/loss.py`,
`training/training_loop.py`, read for facts):
  * non-saturating logistic loss, G: softplus(-D(G(z))), D: softplus(D(G(z))) + softplus(-D(x));
  * lazy R1 regularisation every `r1_interval` D steps, scaled by the interval, with
    Adam's lr and betas adjusted by interval / (interval + 1) (StyleGAN2, Appendix B);
  * optional lazy path-length regularisation of G (off by default, for speed);
  * style mixing, exponential moving average G_ema with ramp-up;
  * DiffAugment (`training.augment`) on real and fake images before D in every phase,
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
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from common.device import resolve_device, synchronize
from common.errors import DragPipelineError, exit_code_for
from training.config import TrainConfig, r1_gamma_heuristic
from training.dataset import ImageFolderDataset
from training.errors import TrainError
from training.loop import RunLog, TrainResult, deferred_interrupt, train_loop
from training.trainer import (
    Trainer,
    _BatchSource,
    _holdout_names,
    build_networks,
    ema_beta,
    load_train_state,
    update_ema,
)

__all__ = [
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "train",
    "build_networks",
    "ema_beta",
    "update_ema",
    "r1_gamma_heuristic",
    "load_train_state",
    "generator_metadata",
    "main",
]

# Fields that fix the networks' shapes or the data order: a resumed run must keep them.
_RESUME_FIXED = (
    "resolution",
    "z_dim",
    "w_dim",
    "mapping_layers",
    "channel_base",
    "channel_max",
    "d_channel_base",
    "d_channel_max",
    "mbstd_group",
    "seed",
    "xflip",
    "holdout",
)


def generator_metadata(data_dir: str | os.PathLike) -> dict[str, Any]:
    """What the exported generators record beside their weights (`stylegan.save_generator`).

    'face_preset' is the alignment framing of the training crops, read from the data folder's
    `manifest.json` (written by `training.prepare`): the pipeline aligns photos the same way
    for this model, whatever the file is called. A folder without a manifest records no preset.

    Returns:
        {'trained_with': 'training.train'} plus 'face_preset' when known.
    """
    metadata: dict[str, Any] = {"trained_with": "training.train"}
    manifest = Path(data_dir) / "manifest.json"
    try:
        preset = json.loads(manifest.read_text()).get("preset")
    except (OSError, ValueError, AttributeError):
        preset = None
    if isinstance(preset, str):
        metadata["face_preset"] = preset
    return metadata


# ----------------------------------------------------------------------------- the loop


def _check_resume(config: TrainConfig, resume: str | os.PathLike | None) -> dict[str, Any] | None:
    """The saved state to resume, after checking that `config` may continue it."""
    if resume is None:
        return None
    state = load_train_state(resume)
    saved = TrainConfig.from_dict(state["config"])
    changed = [name for name in _RESUME_FIXED if getattr(saved, name) != getattr(config, name)]
    if changed:
        raise TrainError(
            f"cannot resume with different {changed} (saved: "
            f"{ {name: getattr(saved, name) for name in changed} }); keep the saved values"
        )
    return state


def train(
    config: TrainConfig,
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    resume: str | os.PathLike | None = None,
    progress: bool = True,
    max_minutes: float | None = None,
) -> TrainResult:
    """Trains (or resumes training) until `config.kimg` thousand real images were shown.

    Args:
        config: the run's settings. On resume, the fields that fix the networks or the
            data order (resolution, channels, seed, ...) must equal the saved ones;
            kimg, snapshot_kimg, device, amp and the like may change.
        data_dir: folder of aligned square images (`training.prepare` output);
            names in the hold-out list are skipped.
        out_dir: output folder (created); see the module docstring for its files.
        resume: a training state (`latest.pt`) or a run folder, None = start afresh.
        progress: show a progress bar with losses and images/s (`common.progress`).
        max_minutes: stop cleanly (snapshot + state, resumable) after this much wall
            time, None = no limit; for machines that run a command for a limited time.

    Returns:
        TrainResult (files written, per-step losses of this call, speed).

    Raises:
        KeyboardInterrupt: on Ctrl-C, after the step in progress and after writing a
            resumable `latest.pt` (its path is in the exception's `state` attribute).
    """
    out_dir = Path(out_dir)
    device = resolve_device(config.device)
    state = _check_resume(config, resume)
    _allow_fast_cuda_kernels(device)
    dataset = ImageFolderDataset(
        data_dir, config.resolution, exclude=_holdout_names(config), xflip=config.xflip, cache=config.cache_images
    )
    trainer = Trainer(config, device)
    if state is not None:
        trainer.load_state_dict(state)
        del state
    trainer.G_ema.metadata = generator_metadata(data_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    source = _BatchSource(dataset, config, device, trainer.cur_nimg)
    result = TrainResult(out_dir=out_dir, step=trainer.step, cur_nimg=trainer.cur_nimg)
    start_time, start_nimg = time.perf_counter(), trainer.cur_nimg
    _announce(trainer, dataset, data_dir)
    bar = _progress_bar(trainer, progress)
    log = RunLog(trainer, out_dir, result, bar, start_time)
    try:
        with deferred_interrupt() as interrupted:
            train_loop(trainer, source, log, out_dir, result, max_minutes, interrupted)
    finally:
        bar.close()
        log.close()
    synchronize(device)
    elapsed = time.perf_counter() - start_time
    result.step, result.cur_nimg = trainer.step, trainer.cur_nimg
    result.images_per_second = (trainer.cur_nimg - start_nimg) / max(elapsed, 1e-9)
    return result


def _allow_fast_cuda_kernels(device: torch.device) -> None:
    if device.type == "cuda":
        # TF32 convolutions / matmuls where bf16 autocast does not apply; cuDNN autotuning.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


def _announce(trainer: Trainer, dataset: ImageFolderDataset, data_dir: str | os.PathLike) -> None:
    """One line on stdout: the data, the device, the networks' sizes and the run's span."""
    config = trainer.config
    print(
        f"training.train: {dataset.num_images} images ({dataset.num_excluded} held out) from {data_dir}, "
        f"device {trainer.device}, amp {trainer.amp_dtype or 'off'}, G {_count(trainer.G) / 1e6:.2f} M / "
        f"D {_count(trainer.D) / 1e6:.2f} M params, r1_gamma {trainer.r1_gamma:.4g}, "
        f"ema {config.effective_ema_kimg:g} kimg, from kimg {trainer.cur_nimg / 1000:g} to {config.kimg:g}",
        flush=True,
    )


def _progress_bar(trainer: Trainer, progress: bool):
    """A progress bar over the images still to show (RunLog puts the losses and speed on it)."""
    from common.progress import progress_bar

    config = trainer.config
    return progress_bar(
        total=config.total_nimg,
        initial=min(trainer.cur_nimg, config.total_nimg),
        unit="img",
        unit_scale=True,
        disable=not progress,
        dynamic_ncols=True,
        desc=f"train {config.resolution}px",
    )


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ----------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training.train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    defaults = TrainConfig()
    p.add_argument("--data", required=True, help="folder of aligned images (python -m training.prepare)")
    p.add_argument("--out", required=True, help="output folder (snapshots, latest.pt, log.jsonl)")
    p.add_argument(
        "--resume",
        default=None,
        help="latest.pt (or its run folder) to continue; its config is the default for every option not given",
    )
    p.add_argument("--max-minutes", type=float, default=None, help="stop cleanly (resumable) after this many minutes")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    # Every config option defaults to None here = TrainConfig's default (or the resumed run's value).
    options = [
        ("--kimg", float, "kimg"),
        ("--batch", int, "batch"),
        ("--resolution", int, "resolution"),
        ("--seed", int, "seed"),
        ("--device", str, "device"),
        ("--amp", str, "amp"),
        ("--snapshot-kimg", float, "snapshot_kimg"),
        ("--log-every", int, "log_every"),
        ("--z-dim", int, "z_dim"),
        ("--w-dim", int, "w_dim"),
        ("--mapping-layers", int, "mapping_layers"),
        ("--channel-base", int, "channel_base"),
        ("--channel-max", int, "channel_max"),
        ("--g-lr", float, "g_lr"),
        ("--d-lr", float, "d_lr"),
        ("--r1-gamma", float, "r1_gamma"),
        ("--r1-interval", int, "r1_interval"),
        ("--pl-weight", float, "pl_weight"),
        ("--style-mixing-prob", float, "style_mixing_prob"),
        ("--ema-kimg", float, "ema_kimg"),
        ("--augment", str, "augment"),
        ("--workers", int, "workers"),
        ("--holdout", str, "holdout"),
        ("--ada-target", float, "ada_target"),
        ("--ada-kimg", float, "ada_kimg"),
    ]
    for flag, kind, name in options:
        p.add_argument(flag, type=kind, default=None, dest=name, help=f"(default {getattr(defaults, name)!r})")
    p.add_argument("--no-holdout", action="store_true", help="train on every image (no hold-out list)")
    p.add_argument("--no-xflip", action="store_true", help="no mirrored copies")
    p.add_argument("--no-ada", action="store_true", help="augment every image always (p = 1) instead of adapting p")
    p.add_argument("--no-cache", action="store_true", help="read images with a DataLoader instead of caching them")
    p.add_argument("--keep-states", action="store_true", help="keep a training state at every snapshot")
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0, 2 bad input, 130 interrupted with the state saved)."""
    args = _parser().parse_args(argv)
    option_names = [f.name for f in dataclasses.fields(TrainConfig)]
    try:
        base = TrainConfig.from_dict(load_train_state(args.resume)["config"]) if args.resume else TrainConfig()
        changes = {name: getattr(args, name) for name in option_names if getattr(args, name, None) is not None}
        if args.no_holdout:
            changes["holdout"] = None
        if args.no_xflip:
            changes["xflip"] = False
        if args.no_ada:
            changes["ada_target"] = None
        if args.no_cache:
            changes["cache_images"] = False
        if args.keep_states:
            changes["keep_states"] = True
        config = dataclasses.replace(base, **changes)
        result = train(
            config, args.data, args.out, resume=args.resume, progress=not args.no_progress, max_minutes=args.max_minutes
        )
    except DragPipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_code_for(exc)
    except KeyboardInterrupt as exc:
        state = getattr(exc, "state", None)
        if state is not None:
            print(f"state: {state} (continue with --resume {state})")
        print("error: interrupted", file=sys.stderr)
        return 130
    last = result.losses[-1] if result.losses else {}
    print(
        f"done: step {result.step}, kimg {result.cur_nimg / 1000:g}, {result.images_per_second:.1f} img/s, "
        f"loss_G {last.get('loss_G', float('nan')):.4f}, loss_D {last.get('loss_D', float('nan')):.4f}"
    )
    print(f"state: {result.state}")
    if result.final is not None:
        print(f"final: {result.final}" + (f"  fp16: {result.final_half}" if result.final_half else ""))
    else:
        print(f"stopped early at the time limit; continue with --resume {result.state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
