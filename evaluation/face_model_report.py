"""Report on a face generator: face rate of samples, inversion and drag on real held-out faces.

    python -m evaluation.face_model_report --checkpoint face-64
    python -m evaluation.face_model_report --checkpoint runs/face64/network-final-fp16.pt --sections face

Prints Markdown tables:
  * face rate: of 200 samples at truncation 0.7, how many dlib's frontal (HOG) detector,
    upsampling once, finds a face in (bar 70%);
  * inversion of the first 50 held-out UTKFace faces (training/data/utkface_holdout.txt) that
    dlib aligns, with W, W+ and PTI at the model's default settings: mean PSNR, SSIM,
    LPIPS-squeeze (the shipped backbone), seconds per face (bars for PTI: >= 24 dB, <= 0.15);
  * the drag test (`evaluation.heldout.mouth_drag_test`) on the first 20 of them, with PTI
    keeping G's noise ('pti') and with the projection's optimised noise written into the
    tuned generator ('pti-noise', the pipeline's default: `InversionConfig.optimize_noise`):
    fraction converged, mean final distance, fraction with a face found after the edit (bars
    80% / 90%), mouth wider, eye shift; the inversion table then has a 'pti-noise' row too.

`--shard K/N` runs every N-th face from the K-th and `--records FILE` saves the per-face
numbers; `--combine FILE...` prints the tables of several shards together. Needs no network
and no GPU; the held-out faces come from ../shared/data/utkface (`--utkface`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from align import AlignConfig, detect_faces
from common.errors import DragPipelineError
from common.images import uint8_from_network
from common.paths import shared_data
from stylegan.networks import Generator

__all__ = ["FaceRateConfig", "FaceRateResult", "face_detection_rate", "main"]

FACE_RATE_BAR = 0.7  # issue 11 acceptance
PTI_PSNR_BAR = 24.0  # dB
PTI_LPIPS_BAR = 0.15  # LPIPS-squeeze
DRAG_CONVERGED_BAR = 0.8
DRAG_FACE_BAR = 0.9


class FaceRateError(DragPipelineError, ValueError):
    """Bad settings of the face-rate proxy."""


@dataclass(frozen=True)
class FaceRateConfig:
    """Sampling and detection settings of the proxy."""

    num_samples: int = 200  # acceptance: 200 samples
    truncation_psi: float = 0.7  # acceptance: truncation 0.7
    seed: int = 0  # latents z come from torch.Generator(cpu).manual_seed(seed)
    batch: int = 25  # samples generated at once
    detect_upsample: int = 1  # dlib frontal detector upsampling (acceptance: once)
    noise_mode: str = "const"  # the generator's noise mode

    def __post_init__(self) -> None:
        for name in ("num_samples", "batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise FaceRateError(f"FaceRateConfig.{name} must be a positive int, got {value!r}")
        if not (isinstance(self.truncation_psi, (int, float)) and np.isfinite(self.truncation_psi)):
            raise FaceRateError(f"FaceRateConfig.truncation_psi must be a finite number, got {self.truncation_psi!r}")
        if not (isinstance(self.detect_upsample, int) and 0 <= self.detect_upsample <= 3):
            raise FaceRateError(f"FaceRateConfig.detect_upsample must be an int in 0..3, got {self.detect_upsample!r}")


@dataclass
class FaceRateResult:
    """Outcome of `face_detection_rate`.

    Attributes:
        rate: fraction of samples with at least one detected face, in [0, 1].
        detected: number of samples with a face.
        total: number of samples.
        found: (total,) bool, per sample in latent order.
        images: (total, R, R, 3) uint8 RGB samples (for a contact sheet).
    """

    rate: float
    detected: int
    total: int
    found: np.ndarray
    images: np.ndarray


@torch.no_grad()
def face_detection_rate(G: Generator, config: FaceRateConfig = FaceRateConfig()) -> FaceRateResult:
    """Samples G at a truncation and counts the samples in which dlib finds a face.

    Args:
        G: an unconditional generator (not modified; any device).
        config: number of samples, truncation, seed, detector upsampling.

    Returns:
        FaceRateResult.
    """
    if G.c_dim:
        raise FaceRateError("the face-rate proxy needs an unconditional generator (c_dim = 0)")
    gen = torch.Generator(device="cpu").manual_seed(config.seed)
    z_all = torch.randn([config.num_samples, G.z_dim], generator=gen)
    align_config = AlignConfig(detect_upsample=config.detect_upsample)
    images, found = [], []
    for start in range(0, config.num_samples, config.batch):
        z = z_all[start : start + config.batch].to(G.device)
        img = G(z, None, truncation_psi=config.truncation_psi, noise_mode=config.noise_mode)
        img = uint8_from_network(img)
        for sample in img:
            images.append(sample)
            found.append(len(detect_faces(np.ascontiguousarray(sample), align_config)) > 0)
    found_arr = np.array(found, dtype=bool)
    return FaceRateResult(
        rate=float(found_arr.mean()),
        detected=int(found_arr.sum()),
        total=len(found_arr),
        found=found_arr,
        images=np.stack(images),
    )


def _contact_sheet(images: np.ndarray, found: np.ndarray, columns: int = 20) -> np.ndarray:
    # Samples in a grid; those without a detected face get a red frame.
    n, r = images.shape[0], images.shape[1]
    rows = (n + columns - 1) // columns
    sheet = np.zeros((rows * r, columns * r, 3), dtype=np.uint8)
    for i, (image, ok) in enumerate(zip(images, found)):
        tile = image.copy()
        if not ok:
            tile[:2], tile[-2:], tile[:, :2], tile[:, -2:] = (255, 0, 0), (255, 0, 0), (255, 0, 0), (255, 0, 0)
        y, x = divmod(i, columns)
        sheet[y * r : (y + 1) * r, x * r : (x + 1) * r] = tile
    return sheet


def _parser() -> argparse.ArgumentParser:
    defaults = FaceRateConfig()
    p = argparse.ArgumentParser(prog="python -m evaluation.face_model_report", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default="face-64", help="registered name or generator file (default face-64)")
    p.add_argument("--sections", default="face,inversion,drag", help="comma list of face, inversion, drag")
    p.add_argument("--samples", type=int, default=defaults.num_samples)
    p.add_argument("--truncation", type=float, default=defaults.truncation_psi)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--faces", type=int, default=50, help="held-out faces inverted (default 50)")
    p.add_argument("--drag-faces", type=int, default=20, help="of those, faces edited by the drag test (default 20)")
    p.add_argument(
        "--utkface", default=None, help="UTKFace folder (default ../shared/data/utkface, env DRAGGAN_SHARED)"
    )
    p.add_argument("--shard", default="0/1", help="K/N: only faces K, K+N, ... (to split the work)")
    p.add_argument("--records", default=None, help="write the per-face numbers to this JSON file")
    p.add_argument("--combine", nargs="+", default=None, help="print the tables of these --records files and exit")
    p.add_argument("--device", default="cpu", help="'cpu', 'cuda', 'mps' or 'auto'")
    p.add_argument("--sheet", default=None, help="also write a PNG contact sheet of the samples (misses framed red)")
    return p


def _real_face_records(G, info, args, shard: tuple[int, int], log) -> list[dict]:
    from evaluation.heldout import (
        heldout_crops,
        invert_face,
        mouth_drag_test,
        reconstruction_scores,
    )
    from pipeline.config import PipelineConfig
    from pipeline.model_defaults import config_for_model

    sections = set(args.sections.split(","))
    config = config_for_model(PipelineConfig(), G, info)
    utkface = Path(args.utkface) if args.utkface else shared_data("data/utkface")
    if not utkface.is_dir():
        raise FaceRateError(f"UTKFace folder {utkface} not found; pass --utkface DIR or set DRAGGAN_SHARED")
    faces = heldout_crops(utkface, int(G.img_resolution), config.align, args.faces)
    records = []
    for index, (name, alignment) in enumerate(faces):
        if index % shard[1] != shard[0]:
            continue
        dragged = "drag" in sections and index < args.drag_faces
        methods = ("w", "w+", "pti") if "inversion" in sections else ("pti",)
        inverted = invert_face(
            G, alignment.crop, config.inversion, methods, pti_noise=(False, True) if dragged else (False,)
        )
        record: dict = {"index": index, "name": name, "inversion": {}, "drag": {}}
        for method in inverted.ws:  # 'w', 'w+', 'pti', and 'pti-noise' on the drag faces
            record["inversion"][method] = reconstruction_scores(
                inverted.reconstruction[method], np.array(alignment.crop)
            )
            record["inversion"][method]["seconds"] = inverted.seconds[method]
        if dragged:
            for key in ("pti", "pti-noise"):
                result = mouth_drag_test(
                    inverted.G[key],
                    inverted.ws[key],
                    alignment.landmarks_crop,
                    inverted.reconstruction[key],
                    config.drag,
                )
                record["drag"][key] = dataclasses.asdict(result)
        records.append(record)
        log(
            f"{index:3d} {name}: PTI {record['inversion']['pti']['psnr']:.1f} dB"
            + (f", drag converged {record['drag']['pti']['converged']}" if dragged else "")
        )
    return records


def _mean(values) -> float:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else float("nan")


def print_tables(records: list[dict]) -> None:
    """The inversion and drag tables of per-face records (from one or several shards)."""
    methods = [m for m in ("w", "w+", "pti", "pti-noise") if any(m in r["inversion"] for r in records)]
    if methods:
        print("| method | faces | PSNR (dB) | SSIM | LPIPS-squeeze | s / face |")
        print("|---|---|---|---|---|---|")
        for m in methods:
            rows = [r["inversion"][m] for r in records if m in r["inversion"]]
            print(
                f"| {m} | {len(rows)} | {_mean(x['psnr'] for x in rows):.2f} | {_mean(x['ssim'] for x in rows):.3f} | "
                f"{_mean(x['lpips'] for x in rows):.3f} | {_mean(x['seconds'] for x in rows):.1f} |"
            )
        pti = [r["inversion"]["pti"] for r in records if "pti" in r["inversion"]]
        ok = _mean(x["psnr"] for x in pti) >= PTI_PSNR_BAR and _mean(x["lpips"] for x in pti) <= PTI_LPIPS_BAR
        print(
            f"\nPTI bar (PSNR >= {PTI_PSNR_BAR:g} dB, LPIPS-squeeze <= {PTI_LPIPS_BAR:g}): {'PASS' if ok else 'FAIL'}\n"
        )
    variants = [k for k in ("pti", "pti-noise") if any(k in r["drag"] for r in records)]
    if variants:
        print(
            "| drag on | faces | converged | mean final distance (px) | face found | mouth wider | "
            "mean eye shift (px) | all checks |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for k in variants:
            rows = [r["drag"][k] for r in records if k in r["drag"]]
            n = len(rows)
            conv = sum(x["converged"] for x in rows) / n
            face = sum(x["face_found"] for x in rows) / n
            wider = sum((x["mouth_width_change"] or 0) > 0 for x in rows) / n
            passed = (
                sum(
                    x["converged"] and x["face_found"] and (x["mouth_width_change"] or 0) > 0 and x["eye_shift"] < 1.5
                    for x in rows
                )
                / n
            )
            print(
                f"| {k} | {n} | {conv:.0%} | {_mean(x['final_distance'] for x in rows):.2f} | {face:.0%} | "
                f"{wider:.0%} | {_mean(x['eye_shift'] for x in rows):.2f} | {passed:.0%} |"
            )
        print(f"\ndrag bars: converged >= {DRAG_CONVERGED_BAR:.0%}, face found >= {DRAG_FACE_BAR:.0%}")


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns 0 when every bar measured is met, 1 when not, 2 on bad input."""
    args = _parser().parse_args(argv)
    if args.combine:
        records = [r for path in args.combine for r in json.loads(Path(path).read_text())]
        print_tables(sorted(records, key=lambda r: r["index"]))
        return 0
    from hub.registry import load_checkpoint, resolve_checkpoint

    sections = set(args.sections.split(","))
    if not sections <= {"face", "inversion", "drag"}:
        print(f"error: --sections takes face, inversion, drag; got {args.sections!r}", file=sys.stderr)
        return 2
    try:
        k, n = (int(v) for v in args.shard.split("/"))
        if not 0 <= k < n:
            raise ValueError
    except ValueError:
        print(f"error: --shard must be K/N with 0 <= K < N, got {args.shard!r}", file=sys.stderr)
        return 2
    ok = True
    try:
        resolved = resolve_checkpoint(args.checkpoint, allow_download=False)
        G = load_checkpoint(resolved, device=args.device)
        if "face" in sections:
            config = dataclasses.replace(
                FaceRateConfig(), num_samples=args.samples, truncation_psi=args.truncation, seed=args.seed
            )
            result = face_detection_rate(G, config)
            if args.sheet:
                from PIL import Image

                Image.fromarray(_contact_sheet(result.images, result.found)).save(args.sheet)
            ok &= result.rate >= FACE_RATE_BAR
            print("| checkpoint | resolution | samples | truncation | faces found | rate | bar |")
            print("|---|---|---|---|---|---|---|")
            print(
                f"| {resolved.label} | {G.img_resolution} | {result.total} | {config.truncation_psi:g} | "
                f"{result.detected} | {result.rate:.1%} | >= {FACE_RATE_BAR:.0%} "
                f"{'PASS' if result.rate >= FACE_RATE_BAR else 'FAIL'} |\n"
            )
        if sections & {"inversion", "drag"}:
            t = time.perf_counter()
            records = _real_face_records(
                G, resolved.info, args, (k, n), lambda line: print(line, file=sys.stderr, flush=True)
            )
            if args.records:
                Path(args.records).write_text(json.dumps(records, indent=1) + "\n")
            print_tables(records)
            print(f"\n({len(records)} faces in {time.perf_counter() - t:.0f} s)")
    except DragPipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
