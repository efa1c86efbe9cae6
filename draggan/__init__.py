"""DragGAN: drag handle points of a generated image to targets by optimising W+.

    from draggan import drag, DragConfig, DragResult
    result = drag(G, ws0, handles=[[120, 200]], targets=[[160, 200]])   # (x, y) image px
    result.image, result.ws, result.handles, result.history

Pan et al., "Drag Your GAN", SIGGRAPH 2023. Defaults follow the paper and the
official code (XingangPan/DragGAN, `viz/renderer.py`): Adam on the first 6 rows of
W+, features of block b128, r1 = 3 and r2 = 12 px at 512 px, lambda = 20, stop
within max(2, 2R/512) px or after 300 steps.

Modules: `config` (DragConfig, scaled radii), `sampling` (reading the features as
the official code's upsampled map, lazily), `motion` (motion supervision and the
mask term), `tracking` (nearest-neighbour point tracking), `local` (features of
the high-resolution blocks computed exactly on crops around the handles), `loop`
(`drag`), `result` (DragResult); images of latents: `stylegan.uint8_from_ws`; speed: `python -m benchmarks.drag`.
"""

from draggan.config import DragConfig, resolve_feature_res, resolve_stop_distance, scaled_radius
from draggan.errors import DragError
from draggan.loop import drag
from draggan.motion import disc_offsets, mask_loss, motion_loss
from draggan.result import DragResult
from draggan.sampling import image_to_feature, sample_features, sample_upsampled
from draggan.tracking import track_points, window_offsets

__all__ = [
    "drag",
    "DragConfig",
    "DragResult",
    "DragError",
    "motion_loss",
    "mask_loss",
    "disc_offsets",
    "track_points",
    "window_offsets",
    "sample_upsampled",
    "sample_features",
    "image_to_feature",
    "scaled_radius",
    "resolve_feature_res",
    "resolve_stop_distance",
]
