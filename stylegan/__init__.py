"""StyleGAN2 generator in pure PyTorch and every checkpoint format it loads.

    from stylegan import Generator, load_generator, save_generator, CheckpointError, uint8_from_ws

The torch-heavy submodules are imported on first use, so `common.errors` (the
project's exception hierarchy, used by every package) imports without torch.
"""

from common.errors import CheckpointError, DeviceError, DragPipelineError, MissingWeightsError
from common.lazy import lazy_getattr

_LAZY = {
    "Generator": "stylegan.networks",
    "load_generator": "stylegan.checkpoints",
    "save_generator": "stylegan.checkpoints",
    "generator_to_dict": "stylegan.checkpoints",
    "generator_from_dict": "stylegan.checkpoints",
    "atomic_save": "common.fileio",
    "detect_format": "stylegan.checkpoints",
    "infer_config": "stylegan.checkpoints",
    "resolve_device": "common.device",
    "uint8_from_ws": "stylegan.generate",
    "export_mmagic_state_dict": "stylegan.checkpoints",
    "export_rosinality_checkpoint": "stylegan.checkpoints",
    "random_generator": "stylegan.random",
}

__all__ = ["CheckpointError", "DeviceError", "DragPipelineError", "MissingWeightsError", *_LAZY]


# The torch-heavy submodules are imported on first access.
__getattr__ = lazy_getattr(__name__, _LAZY, globals())
