"""StyleGAN2 generator in pure PyTorch and every checkpoint format it loads.

    from stylegan import Generator, load_generator, save_generator, CheckpointError
"""

from stylegan.checkpoints import (detect_format, export_mmagic_state_dict, export_rosinality_checkpoint,
                                  infer_config, load_generator, resolve_device, save_generator)
from stylegan.errors import CheckpointError, DragPipelineError, MissingWeightsError
from stylegan.networks import Generator

__all__ = ["Generator", "CheckpointError", "DragPipelineError", "MissingWeightsError", "load_generator",
           "save_generator", "detect_format", "infer_config", "resolve_device", "export_mmagic_state_dict",
           "export_rosinality_checkpoint"]
