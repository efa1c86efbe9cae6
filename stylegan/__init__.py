"""StyleGAN2 generator in pure PyTorch and every checkpoint format it loads.

    from stylegan import Generator, load_generator, save_generator, CheckpointError

The torch-heavy submodules are imported on first use, so `stylegan.errors` (the
project's exception hierarchy, used by every package) imports without torch.
"""

from importlib import import_module

from stylegan.errors import CheckpointError, DeviceError, DragPipelineError, MissingWeightsError

_LAZY = {
    "Generator": "stylegan.networks",
    "load_generator": "stylegan.checkpoints",
    "save_generator": "stylegan.checkpoints",
    "generator_to_dict": "stylegan.checkpoints",
    "generator_from_dict": "stylegan.checkpoints",
    "atomic_save": "stylegan.fileio",
    "detect_format": "stylegan.checkpoints",
    "infer_config": "stylegan.checkpoints",
    "resolve_device": "stylegan.device",
    "export_mmagic_state_dict": "stylegan.checkpoints",
    "export_rosinality_checkpoint": "stylegan.checkpoints",
}

__all__ = ["CheckpointError", "DeviceError", "DragPipelineError", "MissingWeightsError", *_LAZY]


def __getattr__(name: str):
    """Imports the public names of the torch-heavy submodules on first access."""
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'stylegan' has no attribute {name!r}")
