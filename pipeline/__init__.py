"""Edit real photos with DragGAN end to end: align -> invert -> drag -> paste back.

    from pipeline import edit_photo, PipelineConfig
    result = edit_photo("photo.jpg", handles_photo, targets_photo, G, PipelineConfig(align_mode="center"))
    result.edited_photo            # uint8 (H, W, 3), untouched pixels byte-identical to the photo

The command line is `python run_pipeline.py --image photo.jpg --points pts.json`
(`pipeline.cli.main`); checkpoints are resolved by `pipeline.registry`.
"""

from align import load_photo, to_crop, to_photo
from pipeline.cache import InversionCache, inversion_key
from pipeline.config import PipelineConfig
from pipeline.edit import (
    EditResult,
    align_photo,
    drag_crop,
    edit_photo,
    invert_crop,
    mask_to_crop,
    paste_edit,
    points_to_crop,
    reconstruction_metrics,
    render,
    resolve_device,
    video_drag_config,
)
from pipeline.errors import (
    DragPipelineError,
    MissingWeightsError,
    OutputError,
    PipelineError,
    PointsError,
    UnknownCheckpointError,
)
from pipeline.interactive import checkpoint_config, generator_identity, seed_inversion, seed_start
from pipeline.outputs import display_scale, draw_points
from pipeline.points import DragPoints, load_mask, load_points, parse_points
from pipeline.registry import (
    DEFAULT_CHECKPOINT,
    REGISTRY,
    CheckpointInfo,
    ResolvedCheckpoint,
    default_checkpoints_dir,
    load_checkpoint,
    resolve_checkpoint,
)
from pipeline.report import build_report, load_latents, write_results

__all__ = [
    "PipelineConfig",
    "EditResult",
    "edit_photo",
    "align_photo",
    "points_to_crop",
    "mask_to_crop",
    "invert_crop",
    "drag_crop",
    "paste_edit",
    "resolve_device",
    "DragPoints",
    "parse_points",
    "load_points",
    "load_mask",
    "REGISTRY",
    "CheckpointInfo",
    "resolve_checkpoint",
    "load_checkpoint",
    "InversionCache",
    "inversion_key",
    "build_report",
    "write_results",
    "load_latents",
    "PipelineError",
    "PointsError",
    "UnknownCheckpointError",
    "OutputError",
    "DragPipelineError",
    "MissingWeightsError",
    # for interactive front ends (the editor)
    "load_photo",
    "to_photo",
    "to_crop",
    "render",
    "reconstruction_metrics",
    "video_drag_config",
    "checkpoint_config",
    "generator_identity",
    "seed_start",
    "seed_inversion",
    "display_scale",
    "draw_points",
    "DEFAULT_CHECKPOINT",
    "ResolvedCheckpoint",
    "default_checkpoints_dir",
]
