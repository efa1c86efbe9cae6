"""The checkpoint format ids: the one vocabulary for formats, shared by the loaders and the registry.

Torch-free, so that `hub.table` (the checkpoint registry) names formats without importing torch.
`stylegan.checkpoints.detect_format` returns one of these; `hub.table.CheckpointInfo.format`
takes one of them (or 'builtin' for a generator built in memory).
"""

from __future__ import annotations

FORMAT_NATIVE = "native"
FORMAT_NVLABS = "nvlabs-pickle"
FORMAT_NVLABS_TF = "nvlabs-tf-pickle"
FORMAT_NVLABS_STATE_DICT = "nvlabs-state-dict"
FORMAT_MMAGIC = "mmagic"
FORMAT_ROSINALITY = "rosinality"

FORMAT_DESCRIPTIONS = {
    FORMAT_NATIVE: "native draggan-pipeline checkpoint",
    FORMAT_NVLABS: "NVlabs network pickle",
    FORMAT_NVLABS_TF: "NVlabs TensorFlow pickle",
    FORMAT_NVLABS_STATE_DICT: "NVlabs generator state dict",
    FORMAT_MMAGIC: "mmagic StyleGANv2 checkpoint",
    FORMAT_ROSINALITY: "rosinality stylegan2-pytorch checkpoint",
}
