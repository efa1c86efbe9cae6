"""Edit real photos with DragGAN end to end: align -> invert -> drag -> paste back.

    from pipeline import edit_photo, PipelineConfig
    result = edit_photo("photo.jpg", handles_photo, targets_photo, G, PipelineConfig(align_mode="center"))
    result.edited_photo            # uint8 (H, W, 3), untouched pixels byte-identical to the photo

The command line is `python run_pipeline.py --image photo.jpg --points pts.json`
(`pipeline.cli.main`); checkpoints are resolved by `pipeline.registry`.
"""

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
    resolve_device,
)
from pipeline.errors import OutputError, PipelineError, PointsError, UnknownCheckpointError
from pipeline.points import DragPoints, load_mask, load_points, parse_points
from pipeline.registry import REGISTRY, CheckpointInfo, load_checkpoint, resolve_checkpoint
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
]
