"""StyleGAN2 generator in pure PyTorch and every checkpoint format it loads.

    from stylegan import Generator, load_generator, save_generator, CheckpointError
"""

from stylegan.errors import CheckpointError, DragPipelineError, MissingWeightsError
from stylegan.networks import Generator

__all__ = ["Generator", "CheckpointError", "DragPipelineError", "MissingWeightsError"]
