"""Legacy TensorFlow StyleGAN2 pickles ((G, D, Gs) tuples, e.g. stylegan2-car-config-f.pkl).

`Gs` is converted with the variable map of NVlabs' legacy.py (see `stylegan._keymaps`).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from stylegan import _keymaps as km
from stylegan._safe_pickle import TFNetworkRecord
from stylegan.formats._base import Parsed, Problem, as_float
from stylegan.formats.ids import FORMAT_NVLABS_TF


def parse_tf(obj: tuple) -> Parsed:
    """A TensorFlow (G, D, Gs) pickle: Gs's variables mapped to NVlabs names, kwargs as hints."""
    gs = obj[2]  # (G, D, Gs): Gs is the moving average used for inference

    def collect(net: TFNetworkRecord, prefix: str, out: dict) -> None:
        variables = net.state.get("variables") or []
        for item in variables:
            if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)):
                raise Problem("malformed TensorFlow variable list")
            name, value = item
            if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiub":
                raise Problem("TensorFlow variable is not a numeric array", key=prefix + name)
            out[prefix + name] = value
        for name, comp in (net.state.get("components") or {}).items():
            if not isinstance(comp, TFNetworkRecord):
                raise Problem("malformed TensorFlow component", key=prefix + str(name))
            collect(comp, f"{prefix}{name}/", out)

    tf_params: dict[str, np.ndarray] = {}
    collect(gs, "", tf_params)
    kw = gs.state.get("static_kwargs") or {}
    if any(re.fullmatch(r"synthesis/ToRGB_lod\d+/.*", k) for k in tf_params):
        raise Problem(
            "synthesis architecture 'orig' is not supported (only 'skip', as in config-f)",
            fix="use a config-f / stylegan2 'skip' generator",
        )
    for key, supported in (("architecture", "skip"), ("nonlinearity", "lrelu"), ("mapping_nonlinearity", "lrelu")):
        if kw.get(key, supported) != supported:
            raise Problem(f"{key} {kw[key]!r} is not supported (only {supported!r})")
    num_mapping = km._count_indices(tf_params, r"mapping/Dense(\d+)/weight")
    resolutions = [int(m.group(1)) for k in tf_params if (m := re.fullmatch(r"synthesis/(\d+)x\1/ToRGB/weight", k))]
    if not resolutions:
        raise Problem("missing TensorFlow variable", key="synthesis/4x4/ToRGB/weight")
    conditional = "mapping/LabelEmbed/weight" in tf_params
    try:
        sd = km.tf_generator_to_nvlabs(tf_params, max(resolutions), num_mapping, conditional)
    except km.KeyMapError as exc:
        raise Problem(exc.problem, key=exc.key) from None
    hints: dict[str, Any] = {
        "conv_clamp": as_float(kw.get("conv_clamp")),
        "num_fp16_res": int(kw.get("num_fp16_res") or 0),
        "mapping_lr_multiplier": as_float(kw.get("mapping_lrmul", 0.01)),
        "w_avg_beta": as_float(kw.get("w_avg_beta", 0.995)) or 0.995,
    }
    if isinstance(kw.get("fmap_base"), int):
        hints["channel_base"] = kw["fmap_base"] * 2  # legacy.py: channel_base = fmap_base * 2
    if isinstance(kw.get("fmap_max"), int):
        hints["channel_max"] = kw["fmap_max"]
    # The NVlabs resample_filter buffers are not TF variables: rebuilt by _build.
    return Parsed(FORMAT_NVLABS_TF, sd, hints, fill_resample_filters=True)
