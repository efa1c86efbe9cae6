"""Key maps between foreign StyleGAN2 state dicts and NVlabs parameter names.

Every foreign format is first converted to NVlabs names (`mapping.fc0.weight`,
`synthesis.b8.conv0.affine.bias`, ...); one validation and loading path then
serves all formats. Each map is a list of `KeyRule(foreign, nvlabs, kind)`;
`kind` says how the tensor is reshaped (values are never rescaled: every
format stores the unscaled equalised-learning-rate parameters).

Sources of the facts (read, not copied):
  * mmagic `StyleGAN2Generator` (mmagic/models/editors/stylegan2) and the
    DragGAN conversion script behind the mmagic DragGAN checkpoints
    (`mmagic_to_official_name_mapping_g_ema`): `style_mapping.{i+1}` is
    `mapping.fc{i}` (index 0 is the pixel norm), the bias lives beside
    `linear.weight_orig`, `convs.{2i}/{2i+1}` are `b{2^(i+3)}.conv0/conv1`.
  * rosinality stylegan2-pytorch `model.py` / `convert_weight.py`: same
    layout with `style.{i+1}`, `conv.modulation`, `noise.weight` and the const
    noises in `noises.noise_{k}`. rosinality's converter flips the TF
    `Conv0_up` kernels, exactly as NVlabs' `legacy.py` does, so rosinality and
    NVlabs PyTorch kernels are stored identically (checked numerically
    against both reference implementations; no flip here).
  * NVlabs stylegan2-ada-pytorch `legacy.py` for TensorFlow variable names:
    dense/conv weights are transposed, `mod_bias` is stored minus 1, and
    `Conv0_up` kernels are spatially flipped relative to PyTorch.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch

# How a foreign tensor becomes the NVlabs one, and back.
KIND_SAME = "same"  # identical shape
KIND_LEAD1 = "lead1"  # foreign has an extra leading dim of 1: [1,C,4,4] / [1,O,I,k,k]
KIND_SCALAR1 = "scalar1"  # foreign [1] <-> NVlabs []
KIND_RGB_BIAS = "rgb_bias"  # foreign [1,C,1,1] <-> NVlabs [C]
KIND_NOISE = "noise"  # foreign [1,1,R,R] <-> NVlabs [R,R]


@dataclass(frozen=True)
class KeyRule:
    """One foreign key, its NVlabs name and the reshape between them."""

    foreign: str
    nvlabs: str
    kind: str = KIND_SAME


class KeyMapError(ValueError):
    """A foreign tensor does not have the layout its key promises."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


def to_nvlabs_tensor(t: torch.Tensor, kind: str, key: str) -> torch.Tensor:
    """Reshapes a foreign tensor into NVlabs layout (raises KeyMapError on a bad shape)."""
    shape = tuple(t.shape)
    if kind == KIND_SAME:
        return t
    if kind == KIND_LEAD1:
        if t.ndim < 2 or shape[0] != 1:
            raise KeyMapError(key, f"expected a leading dimension of 1, got shape {list(shape)}")
        return t[0]
    if kind == KIND_SCALAR1:
        if t.numel() != 1:
            raise KeyMapError(key, f"expected a single value, got shape {list(shape)}")
        return t.reshape([])
    if kind == KIND_RGB_BIAS:
        if t.ndim != 4 or shape[0] != 1 or shape[2:] != (1, 1):
            raise KeyMapError(key, f"expected shape [1, C, 1, 1], got {list(shape)}")
        return t.reshape(-1)
    if kind == KIND_NOISE:
        if t.ndim != 4 or shape[:2] != (1, 1):
            raise KeyMapError(key, f"expected shape [1, 1, R, R], got {list(shape)}")
        return t[0, 0]
    raise AssertionError(kind)


def from_nvlabs_tensor(t: torch.Tensor, kind: str) -> torch.Tensor:
    """Inverse of `to_nvlabs_tensor`."""
    if kind == KIND_SAME:
        return t
    if kind == KIND_LEAD1:
        return t.unsqueeze(0)
    if kind == KIND_SCALAR1:
        return t.reshape([1])
    if kind == KIND_RGB_BIAS:
        return t.reshape(1, -1, 1, 1)
    if kind == KIND_NOISE:
        return t.reshape(1, 1, *t.shape)
    raise AssertionError(kind)


def _count_indices(keys, pattern: str) -> int:
    """Number of consecutive indices 0.. (or 1..) matched by `pattern` with one (\\d+) group."""
    found = {int(m.group(1)) for k in keys if (m := re.fullmatch(pattern, k))}
    return len(found)


# --------------------------------------------------------------------------- mmagic

# Sub-keys of a modulated convolution in mmagic's and rosinality's state dicts:
# (weight [1,O,I,k,k], style affine weight, style affine bias, noise strength [1]).
_MMAGIC_MODCONV = (
    "conv.weight_orig",
    "conv.style_modulation.linear.weight_orig",
    "conv.style_modulation.bias",
    "noise_injector.weight",
)
_ROSINALITY_MODCONV = ("conv.weight", "conv.modulation.weight", "conv.modulation.bias", "noise.weight")


def _modconv_rules(src: str, dst: str, names: tuple[str, str, str, str], to_rgb: bool) -> list[KeyRule]:
    """Rules of one synthesis layer (noise + bias/activation) or toRGB layer (RGB bias)."""
    weight, affine_weight, affine_bias, noise = names
    rules = [
        KeyRule(f"{src}.{weight}", f"{dst}.weight", KIND_LEAD1),
        KeyRule(f"{src}.{affine_weight}", f"{dst}.affine.weight"),
        KeyRule(f"{src}.{affine_bias}", f"{dst}.affine.bias"),
    ]
    if to_rgb:
        return rules + [KeyRule(f"{src}.bias", f"{dst}.bias", KIND_RGB_BIAS)]
    return rules + [
        KeyRule(f"{src}.{noise}", f"{dst}.noise_strength", KIND_SCALAR1),
        KeyRule(f"{src}.activate.bias", f"{dst}.bias"),
    ]


def _synthesis_rules(img_resolution: int, names: tuple[str, str, str, str], noise_buffers: bool) -> list[KeyRule]:
    """Rules of the synthesis layers shared by mmagic and rosinality (same module layout).

    `conv1` / `to_rgb1` are block b4; `convs.{2i}` / `convs.{2i+1}` / `to_rgbs.{i}` are
    conv0 / conv1 / torgb of block b{2^(i+3)}. With `noise_buffers` (rosinality) the
    const noise `noises.noise_{k}` of the k-th layer follows that layer's rules.
    """
    layers = [("conv1", "synthesis.b4.conv1", False), ("to_rgb1", "synthesis.b4.torgb", True)]
    for i in range(int(math.log2(img_resolution)) - 2):
        res = 2 ** (i + 3)
        layers += [
            (f"convs.{2 * i}", f"synthesis.b{res}.conv0", False),
            (f"convs.{2 * i + 1}", f"synthesis.b{res}.conv1", False),
            (f"to_rgbs.{i}", f"synthesis.b{res}.torgb", True),
        ]
    rules, noise_index = [], 0
    for src, dst, to_rgb in layers:
        rules += _modconv_rules(src, dst, names, to_rgb)
        if noise_buffers and not to_rgb:
            rules.append(KeyRule(f"noises.noise_{noise_index}", f"{dst}.noise_const", KIND_NOISE))
            noise_index += 1
    return rules


def mmagic_rules(num_mapping: int, img_resolution: int, with_w_avg: bool = True) -> list[KeyRule]:
    """Key rules of mmagic's StyleGANv2Generator (unconditional, without its prefix).

    mmagic's `injected_noise_{k}` buffers are not mapped: see
    `MMAGIC_NOISE_SEED` in checkpoints.py for the const noise used instead.
    """
    rules = []
    for i in range(num_mapping):
        rules += [
            KeyRule(f"style_mapping.{i + 1}.linear.weight_orig", f"mapping.fc{i}.weight"),
            KeyRule(f"style_mapping.{i + 1}.bias", f"mapping.fc{i}.bias"),
        ]
    if with_w_avg:
        rules.append(KeyRule("w_avg", "mapping.w_avg"))
    rules.append(KeyRule("constant_input.input", "synthesis.b4.const", KIND_LEAD1))
    return rules + _synthesis_rules(img_resolution, _MMAGIC_MODCONV, noise_buffers=False)


# mmagic buffers that carry no information for us: blur / upsampling FIR kernels
# (always [1,3,3,1] here; the NVlabs `resample_filter` buffers are rebuilt) and
# mmagic's randomly initialised `injected_noise_{k}` buffers.
MMAGIC_IGNORED = re.compile(r"(.*\.blur\.kernel|.*\.upsample\.kernel|injected_noise_\d+)")


def mmagic_structure(keys) -> tuple[int, int]:
    """(num_mapping_layers, img_resolution) from the keys of an mmagic generator state dict."""
    num_mapping = _count_indices(keys, r"style_mapping\.(\d+)\.linear\.weight_orig")
    num_rgbs = _count_indices(keys, r"to_rgbs\.(\d+)\.bias")
    return num_mapping, 2 ** (num_rgbs + 2)


# --------------------------------------------------------------------------- rosinality


def rosinality_rules(num_mapping: int, img_resolution: int) -> list[KeyRule]:
    """Key rules of rosinality's `Generator` state dict (`ckpt['g_ema']`)."""
    rules = []
    for i in range(num_mapping):
        rules += [
            KeyRule(f"style.{i + 1}.weight", f"mapping.fc{i}.weight"),
            KeyRule(f"style.{i + 1}.bias", f"mapping.fc{i}.bias"),
        ]
    rules.append(KeyRule("input.input", "synthesis.b4.const", KIND_LEAD1))
    return rules + _synthesis_rules(img_resolution, _ROSINALITY_MODCONV, noise_buffers=True)


# Blur / upsampling FIR kernels of rosinality's modules: rebuilt, not loaded.
ROSINALITY_IGNORED = re.compile(r".*\.kernel")


def rosinality_structure(keys) -> tuple[int, int]:
    """(num_mapping_layers, img_resolution) from the keys of a rosinality generator state dict."""
    num_mapping = _count_indices(keys, r"style\.(\d+)\.weight")
    num_rgbs = _count_indices(keys, r"to_rgbs\.(\d+)\.bias")
    return num_mapping, 2 ** (num_rgbs + 2)


# --------------------------------------------------------------------------- TensorFlow (legacy NVlabs)


def tf_generator_to_nvlabs(
    tf_params: dict[str, np.ndarray], img_resolution: int, num_mapping: int, conditional: bool
) -> dict[str, torch.Tensor]:
    """Converts the variables of a TensorFlow StyleGAN2 `Gs` to an NVlabs state dict.

    Args:
        tf_params: {'mapping/Dense0/weight': array, 'synthesis/4x4/Conv/weight': ..., 'dlatent_avg': ...}.
        img_resolution: output resolution (from the static kwargs).
        num_mapping: number of mapping layers.
        conditional: whether `mapping/LabelEmbed` is expected.

    Returns:
        NVlabs-named float32 tensors (without resample filters, which are rebuilt).

    Raises:
        KeyMapError: a variable is missing or mis-shaped.
    """

    tf = _TFVariables(tf_params)
    sd: dict[str, torch.Tensor] = {}
    sd["mapping.w_avg"] = tf.vec("dlatent_avg")
    if conditional:
        sd["mapping.embed.weight"] = tf.dense("mapping/LabelEmbed/weight")
        sd["mapping.embed.bias"] = tf.vec("mapping/LabelEmbed/bias")
    for i in range(num_mapping):
        sd[f"mapping.fc{i}.weight"] = tf.dense(f"mapping/Dense{i}/weight")
        sd[f"mapping.fc{i}.bias"] = tf.vec(f"mapping/Dense{i}/bias")
    const = tf.get("synthesis/4x4/Const/const")
    if const.ndim != 4 or const.shape[0] != 1:
        raise KeyMapError("synthesis/4x4/Const/const", f"expected shape [1, C, 4, 4], got {list(const.shape)}")
    sd["synthesis.b4.const"] = torch.from_numpy(np.ascontiguousarray(const[0]))
    sd.update(tf.layer("synthesis.b4.conv1", "synthesis/4x4/Conv", 0))
    sd.update(tf.torgb("synthesis.b4.torgb", "synthesis/4x4/ToRGB"))
    for log2 in range(3, int(math.log2(img_resolution)) + 1):
        r = 2**log2
        sd.update(tf.layer(f"synthesis.b{r}.conv0", f"synthesis/{r}x{r}/Conv0_up", 2 * log2 - 5, flip=True))
        sd.update(tf.layer(f"synthesis.b{r}.conv1", f"synthesis/{r}x{r}/Conv1", 2 * log2 - 4))
        sd.update(tf.torgb(f"synthesis.b{r}.torgb", f"synthesis/{r}x{r}/ToRGB"))
    return {k: v.to(torch.float32) for k, v in sd.items()}


class _TFVariables:
    """Reads TensorFlow StyleGAN2 variables as NVlabs tensors (layouts checked, KeyMapError otherwise)."""

    def __init__(self, tf_params: dict[str, np.ndarray]):
        self.tf_params = tf_params

    def get(self, name: str) -> np.ndarray:
        if name not in self.tf_params:
            raise KeyMapError(name, "missing TensorFlow variable")
        return np.asarray(self.tf_params[name])

    def conv(self, name: str, flip: bool = False) -> torch.Tensor:
        """[k, k, I, O] -> (O, I, k, k)."""
        w = self.get(name)
        if w.ndim != 4:
            raise KeyMapError(name, f"expected a [k, k, I, O] kernel, got shape {list(w.shape)}")
        if flip:  # TF transposed convolution flips the kernel (NVlabs legacy.py)
            w = w[::-1, ::-1]
        return torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))

    def dense(self, name: str) -> torch.Tensor:
        """[in, out] -> (out, in)."""
        w = self.get(name)
        if w.ndim != 2:
            raise KeyMapError(name, f"expected a [in, out] matrix, got shape {list(w.shape)}")
        return torch.from_numpy(np.ascontiguousarray(w.T))

    def vec(self, name: str, add: float = 0.0) -> torch.Tensor:
        return torch.from_numpy(np.asarray(np.array(self.get(name), dtype=np.float32) + add))

    def noise(self, name: str) -> torch.Tensor:
        """[1, 1, R, R] -> (R, R)."""
        n = self.get(name)
        if n.ndim != 4 or n.shape[:2] != (1, 1):
            raise KeyMapError(name, f"expected shape [1, 1, R, R], got {list(n.shape)}")
        return torch.from_numpy(np.ascontiguousarray(n[0, 0]))

    def layer(self, dst: str, src: str, noise_index: int, flip: bool = False) -> dict[str, torch.Tensor]:
        """One modulated convolution layer with its noise input."""
        return {
            f"{dst}.weight": self.conv(f"{src}/weight", flip),
            f"{dst}.bias": self.vec(f"{src}/bias"),
            f"{dst}.noise_const": self.noise(f"synthesis/noise{noise_index}"),
            f"{dst}.noise_strength": self.vec(f"{src}/noise_strength").reshape([]),
            f"{dst}.affine.weight": self.dense(f"{src}/mod_weight"),
            f"{dst}.affine.bias": self.vec(f"{src}/mod_bias", add=1.0),  # TF stores the style bias minus 1
        }

    def torgb(self, dst: str, src: str) -> dict[str, torch.Tensor]:
        """One ToRGB layer."""
        return {
            f"{dst}.weight": self.conv(f"{src}/weight"),
            f"{dst}.bias": self.vec(f"{src}/bias"),
            f"{dst}.affine.weight": self.dense(f"{src}/mod_weight"),
            f"{dst}.affine.bias": self.vec(f"{src}/mod_bias", add=1.0),
        }
