"""Edit real photos with DragGAN end to end: align -> invert -> drag -> paste back.

    from pipeline import edit_photo, PipelineConfig
    result = edit_photo("photo.jpg", handles_photo, targets_photo, G, PipelineConfig(align_mode="center"))
    result.edited_photo            # uint8 (H, W, 3), untouched pixels byte-identical to the photo

The command line is `python run_pipeline.py --image photo.jpg --points pts.json`
(`pipeline.cli.main.main`); checkpoints are resolved by `hub.registry`.

The public names are imported on first use (as in `stylegan`), so that `import pipeline.cli.main`
takes milliseconds, not the seconds torch needs: the command line then handles Ctrl-C and
bad options itself, even while the heavy modules are still importing.
"""

from common.lazy import lazy_getattr
from pipeline.errors import (
    DragPipelineError,
    MissingWeightsError,
    OutputError,
    PipelineError,
    PointsError,
    UnknownCheckpointError,
)

_LAZY = {
    "PipelineConfig": "pipeline.config",
    "EditResult": "pipeline.edit",
    "edit_photo": "pipeline.edit",
    "align_photo": "pipeline.stages",
    "points_to_crop": "pipeline.stages",
    "mask_to_crop": "pipeline.stages",
    "invert_crop": "pipeline.stages",
    "drag_crop": "pipeline.stages",
    "paste_edit": "pipeline.stages",
    "composite_edit": "pipeline.stages",
    "resolve_device": "pipeline.edit",
    "CropInversion": "pipeline.stages",
    "GeneratorOnDevice": "pipeline.stages",
    "generator_on_device": "pipeline.stages",
    "DragPoints": "pipeline.io.points",
    "parse_points": "pipeline.io.points",
    "load_points": "pipeline.io.points",
    "load_mask": "pipeline.io.points",
    "REGISTRY": "hub.registry",
    "CheckpointInfo": "hub.registry",
    "resolve_checkpoint": "hub.registry",
    "load_checkpoint": "hub.registry",
    "InversionCache": "pipeline.cache",
    "inversion_key": "pipeline.cache",
    "build_report": "pipeline.io.report",
    "write_results": "pipeline.io.report",
    "load_latents": "pipeline.io.report",
    # for interactive front ends (the editor), which reach the stages only through pipeline
    "load_photo": "align",
    "to_photo": "align",
    "to_crop": "align",
    "uint8_from_ws": "stylegan.generate",
    "reconstruction_metrics": "pipeline.stages",
    "video_drag_config": "pipeline.frames",
    "render_drag_frames": "pipeline.frames",
    "config_for_model": "pipeline.model_defaults",
    "resolve_feature_res": "draggan.config",
    "resolve_stop_distance": "draggan.config",
    "generator_identity": "pipeline.seeds",
    "LoadedModel": "pipeline.models",
    "load_model": "pipeline.models",
    "seed_start": "pipeline.seeds",
    "seed_inversion": "pipeline.seeds",
    "SeedStart": "pipeline.seeds",
    "SeedInversion": "pipeline.seeds",
    "display_scale": "pipeline.io.drawing",
    "draw_points": "pipeline.io.drawing",
    "DEFAULT_CHECKPOINT": "hub.registry",
    "ResolvedCheckpoint": "hub.registry",
    "default_checkpoints_dir": "hub.registry",
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
