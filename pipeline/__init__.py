"""Edit real photos with DragGAN end to end: align -> invert -> drag -> paste back.

    from pipeline import edit_photo, PipelineConfig
    result = edit_photo("photo.jpg", handles_photo, targets_photo, G, PipelineConfig(align_mode="center"))
    result.edited_photo            # uint8 (H, W, 3), untouched pixels byte-identical to the photo

The command line is `python run_pipeline.py --image photo.jpg --points pts.json`
(`pipeline.cli.main`); checkpoints are resolved by `pipeline.registry`.

The public names are imported on first use (as in `stylegan`), so that `import pipeline.cli`
takes milliseconds, not the seconds torch needs: the command line then handles Ctrl-C and
bad options itself, even while the heavy modules are still importing.
"""

from pipeline.errors import (
    DragPipelineError,
    MissingWeightsError,
    OutputError,
    PipelineError,
    PointsError,
    UnknownCheckpointError,
)
from stylegan.lazy import lazy_getattr

_LAZY = {
    "PipelineConfig": "pipeline.config",
    "EditResult": "pipeline.edit",
    "edit_photo": "pipeline.edit",
    "align_photo": "pipeline.edit",
    "points_to_crop": "pipeline.edit",
    "mask_to_crop": "pipeline.edit",
    "invert_crop": "pipeline.edit",
    "drag_crop": "pipeline.edit",
    "paste_edit": "pipeline.edit",
    "resolve_device": "pipeline.edit",
    "DragPoints": "pipeline.points",
    "parse_points": "pipeline.points",
    "load_points": "pipeline.points",
    "load_mask": "pipeline.points",
    "REGISTRY": "pipeline.registry",
    "CheckpointInfo": "pipeline.registry",
    "resolve_checkpoint": "pipeline.registry",
    "load_checkpoint": "pipeline.registry",
    "InversionCache": "pipeline.cache",
    "inversion_key": "pipeline.cache",
    "build_report": "pipeline.report",
    "write_results": "pipeline.report",
    "load_latents": "pipeline.report",
    # for interactive front ends (the editor), which reach the stages only through pipeline
    "load_photo": "align",
    "to_photo": "align",
    "to_crop": "align",
    "render": "pipeline.frames",
    "reconstruction_metrics": "pipeline.edit",
    "video_drag_config": "pipeline.frames",
    "render_drag_frames": "pipeline.frames",
    "config_for_model": "pipeline.model_defaults",
    "generator_identity": "pipeline.interactive",
    "seed_start": "pipeline.interactive",
    "seed_inversion": "pipeline.interactive",
    "display_scale": "pipeline.outputs",
    "draw_points": "pipeline.outputs",
    "DEFAULT_CHECKPOINT": "pipeline.registry",
    "ResolvedCheckpoint": "pipeline.registry",
    "default_checkpoints_dir": "pipeline.registry",
}

__all__ = [
    *_LAZY,
    "PipelineError",
    "PointsError",
    "UnknownCheckpointError",
    "OutputError",
    "DragPipelineError",
    "MissingWeightsError",
]


# The torch-heavy submodules are imported on first access.
__getattr__ = lazy_getattr(__name__, _LAZY, globals())
