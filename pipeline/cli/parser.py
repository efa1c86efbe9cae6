"""The command line's argument parser, one function per option group, and its typed options.

`build_parser` parses `run_pipeline.py`'s arguments; `options_from_args` turns them into
`pipeline.options.UserOptions`, from which `pipeline.options.config_from_options` builds the
`PipelineConfig` (the editor builds the same options from its page). Heavy packages (torch)
are imported inside the functions, so importing this module is fast.
"""

from __future__ import annotations

import argparse

from pipeline.errors import UsageError

__all__ = ["build_parser", "options_from_args"]


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so `main` can return the exit code."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise UsageError(message)


def _box(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--box must be x0,y0,x1,y1 (numbers), got {text!r}") from None
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"--box must be 4 numbers x0,y0,x1,y1, got {text!r}")
    return values  # type: ignore[return-value]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _face_index(text: str) -> int | str:
    return "all" if text.strip().lower() == "all" else _positive_int(text)


def _add_batch_options(p: argparse.ArgumentParser) -> None:
    batch = p.add_argument_group('batch (see README, "Batch editing")')
    batch.add_argument(
        "--batch",
        metavar="JOBS.jsonl",
        help="edit many photos: one JSON job a line (the other options are every job's defaults); "
        "needs --out; results in OUT/<id>/ and OUT/results.jsonl",
    )
    batch.add_argument("--retry-failed", action="store_true", help="batch: run the failed jobs again")
    batch.add_argument(
        "--strict",
        action="store_true",
        help="batch: stop before any work when a line of the jobs file is bad (default: skip it)",
    )


def _add_io_options(p: argparse.ArgumentParser) -> None:
    """--image, --points, --mask, --out, --overwrite, --video, --fps."""
    io = p.add_argument_group("inputs and outputs")
    io.add_argument("--image", help="the photo to edit (JPEG, PNG, ...)")
    io.add_argument(
        "--points",
        help='JSON with points in photo pixels: {"handles": [[x, y], ...], '
        '"targets": [[x, y], ...]} or [{"handle": [x, y], "target": [x, y]}, ...]; '
        'optional "mask": PNG the size of the photo, white = may move',
    )
    io.add_argument("--mask", help='mask PNG (overrides the points file\'s "mask")')
    io.add_argument("--out", help="output folder (default: <image folder>/<image name>_edit)")
    io.add_argument("--overwrite", action="store_true", help="replace an existing non-empty output folder")
    io.add_argument(
        "--video",
        nargs="?",
        const="mp4",
        choices=("mp4", "gif"),
        help="also write a video of the drag (default mp4; gif if MP4 is unavailable)",
    )
    io.add_argument("--fps", type=int, default=10, help="video frames per second (default 10)")


def _add_model_options(p: argparse.ArgumentParser) -> None:
    """--checkpoint, --checkpoints-dir, --list-checkpoints, --offline."""
    from hub.registry import DEFAULT_CHECKPOINT

    model = p.add_argument_group("model")
    model.add_argument(
        "--checkpoint",
        default=DEFAULT_CHECKPOINT,
        help=f"generator file or registered name (default {DEFAULT_CHECKPOINT}; "
        "see --list-checkpoints; 'random-64' needs no download)",
    )
    model.add_argument(
        "--checkpoints-dir", help="folder of registered checkpoints (default: ./checkpoints, env DRAGGAN_CHECKPOINTS)"
    )
    model.add_argument("--list-checkpoints", action="store_true", help="list the registered checkpoints and exit")
    model.add_argument(
        "--offline",
        action="store_true",
        help="never download (also env DRAGGAN_OFFLINE=1); missing weights exit with code 3",
    )


def _add_align_options(p: argparse.ArgumentParser) -> None:
    """--align, --box, --face-index, --face-preset."""
    from align import FACE_PRESETS

    align = p.add_argument_group("alignment")
    align.add_argument(
        "--align",
        choices=("face", "box", "center"),
        default="face",
        help="face (dlib + FFHQ crop, default), box (needs --box) or center",
    )
    align.add_argument("--box", type=_box, help="x0,y0,x1,y1 in photo pixels for --align box")
    align.add_argument(
        "--face-index",
        type=_face_index,
        help="which face, 0 = largest (default); 'all': edit every face that has points "
        "(each handle/target pair goes to the face whose crop holds both points)",
    )
    align.add_argument(
        "--face-preset",
        choices=sorted(FACE_PRESETS),
        help="face framing (default: the one the model was trained with, recorded in the checkpoint "
        "or the registry; ffhq otherwise)",
    )


def _add_inversion_options(p: argparse.ArgumentParser) -> None:
    """--inversion, --steps, --pti-steps, --lpips-net, --lpips-backbone, --locality, cache."""
    from inversion import InversionConfig

    inv_defaults = InversionConfig()
    inv = p.add_argument_group("inversion")
    inv.add_argument(
        "--inversion",
        choices=("w", "w+", "pti"),
        default="pti",
        help="W, W+ or PTI (default: W pivot + pivotal tuning)",
    )
    inv.add_argument(
        "--steps",
        type=_positive_int,
        help=f"optimisation steps of each inversion stage (default: W {inv_defaults.w_steps}, "
        f"W+ {inv_defaults.wplus_steps}, PTI {inv_defaults.pti_steps}; models of <= 128 px: "
        f"fewer, see pipeline.model_defaults)",
    )
    inv.add_argument("--pti-steps", type=_positive_int, help="pivotal-tuning steps (overrides --steps for PTI)")
    inv.add_argument(
        "--lpips-net",
        choices=("vgg", "alex", "squeeze"),
        help=f"LPIPS backbone of every inversion stage (default: {inv_defaults.lpips_net} for "
        f"W/W+, {inv_defaults.pti_lpips_net} for PTI; squeeze, shipped with the package, for "
        f"models of <= 128 px)",
    )
    inv.add_argument(
        "--lpips-backbone",
        metavar="PATH",
        help="local LPIPS backbone file or folder (a torchvision features state dict) for offline "
        "machines; 'random' = untrained backbone, for smoke tests only",
    )
    inv.add_argument(
        "--locality",
        action="store_true",
        help="PTI locality regulariser (PTI, Sec. 3.3): keeps the tuned generator faithful away from "
        "the pivot, where a drag moves the latent; costs about 2x per PTI step",
    )
    inv.add_argument("--no-cache", action="store_true", help="do not read or write the inversion cache")
    inv.add_argument(
        "--cache-dir",
        help="inversion cache folder (default ~/.cache/draggan-pipeline/inversions, env DRAGGAN_CACHE_DIR)",
    )


def _add_drag_options(p: argparse.ArgumentParser) -> None:
    """--drag-steps, --lr, --stop-distance."""
    from draggan import DragConfig
    from pipeline.model_defaults import SMALL_MODEL_DRAG

    drag_defaults = DragConfig()
    drag = p.add_argument_group("drag")
    small = "models of <= 128 px: {} (pipeline.model_defaults)"
    drag.add_argument(
        "--drag-steps",
        type=_positive_int,
        help=f"maximum drag steps (default {drag_defaults.max_steps}; {small.format(SMALL_MODEL_DRAG['max_steps'])})",
    )
    small_lr = small.format(f"{SMALL_MODEL_DRAG['lr']:g}")
    drag.add_argument("--lr", type=float, help=f"drag learning rate (default {drag_defaults.lr:g}; {small_lr})")
    drag.add_argument("--stop-distance", type=float, help="stop when every handle is this close (generator px)")


def _add_paste_options(p: argparse.ArgumentParser) -> None:
    """--composite, --debug-composite."""
    from align import PasteConfig

    paste = p.add_argument_group("paste back")
    paste.add_argument(
        "--composite",
        choices=("warp", "delta"),
        help="how the edit goes back into the photo: 'warp' moves the photo's own pixels by the edit's "
        "displacement field (plus the generator's appearance change), 'delta' adds the generator's "
        f"change (default {PasteConfig().composite})",
    )
    paste.add_argument(
        "--debug-composite",
        action="store_true",
        help="also write composite_field.png (displacement, colour) and composite_weight.png (grey)",
    )


def _add_video_options(p: argparse.ArgumentParser) -> None:
    """--frame-steps, --shot-steps, --landmark-sigma, --layer-smoothing (when --image is a clip)."""
    from pipeline.video.config import VideoConfig

    d = VideoConfig()
    video = p.add_argument_group('video (when --image is a clip; the points file\'s "frame" is the keyframe)')
    video.add_argument(
        "--frame-steps",
        type=_positive_int,
        help=f"W+ steps per frame, from the previous frame's latent (default {d.frame_steps})",
    )
    video.add_argument(
        "--shot-steps",
        type=_positive_int,
        help=f"W+ steps for the first frame of a shot, from the keyframe's pivot (default {d.shot_steps})",
    )
    video.add_argument(
        "--landmark-sigma",
        type=float,
        help=f"frames; smooths the face's landmarks over time before aligning (default {d.landmark_sigma:g})",
    )
    video.add_argument(
        "--layer-smoothing",
        type=float,
        help="blend of each frame's composite field and weight with the previous frame's, in [0, 1) "
        f"(default {d.layer_smoothing:g})",
    )


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """--device, --seed, --deterministic, --quiet, --debug."""
    run = p.add_argument_group("run")
    run.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    run.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    run.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic GPU kernels: the same inputs give the same outputs run to run (slower; "
        "the CPU is deterministic already)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bars or stage lines, errors only")
    run.add_argument("--debug", action="store_true", help="print tracebacks")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `run_pipeline.py` (also used to generate the README's option list)."""
    p = _Parser(
        prog="run_pipeline.py",
        description="Edit a real photo with DragGAN: align -> invert -> drag -> paste back.",
        epilog="Exit codes: 0 ok, 2 bad input, 3 missing weights (offline), 4 some batch jobs failed, 1 other errors.",
    )
    for add_group in (
        _add_io_options,
        _add_model_options,
        _add_align_options,
        _add_inversion_options,
        _add_drag_options,
        _add_paste_options,
        _add_video_options,
        _add_batch_options,
        _add_run_options,
    ):
        add_group(p)
    return p


def options_from_args(args: argparse.Namespace):
    """The `pipeline.options.UserOptions` a parsed command line describes.

    Raises:
        UsageError: options that do not fit together (e.g. --box without --align box).
    """
    from pipeline.options import UserOptions

    return UserOptions(
        align=args.align,
        box=args.box,
        face_index=args.face_index,
        face_preset=args.face_preset,
        inversion=args.inversion,
        steps=args.steps,
        pti_steps=args.pti_steps,
        lpips_net=args.lpips_net,
        lpips_backbone=args.lpips_backbone,
        locality=args.locality,
        no_cache=args.no_cache,
        cache_dir=args.cache_dir,
        drag_steps=args.drag_steps,
        lr=args.lr,
        stop_distance=args.stop_distance,
        device=args.device,
        seed=args.seed,
        deterministic=args.deterministic,
        video=args.video,
        fps=args.fps,
        composite=args.composite,
        debug_composite=args.debug_composite,
        frame_steps=args.frame_steps,
        shot_steps=args.shot_steps,
        landmark_sigma=args.landmark_sigma,
        layer_smoothing=args.layer_smoothing,
    )
