"""Per-model settings: the config a photo edit uses with a given generator.

The stage configs' defaults are DragGAN's and PTI's, chosen for 256-1024 px models. A
model changes some of them:

  * its face framing: a face model is fed crops cut the way its training images were cut
    (`align.FACE_PRESETS`); the registry knows it for registered names, and the native
    checkpoint format records it (`G.metadata['face_preset']`, written by
    `training.train`), so a model file given by path is framed right too;
  * a car model's content band (`content_aspect`) for box / centre crops;
  * small generators (at most `SMALL_MODEL_MAX_RESOLUTION` px, e.g. the shipped `face-64`):
    fewer inversion steps, LPIPS-squeeze (shipped with the package: no download), drag
    radii, stop distance and learning rate that suit a few-dozen-pixel face, and a composite
    that takes less of the generator's blurred appearance. The
    numbers were chosen by measurement on held-out UTKFace faces
    (`python -m evaluation.tune_defaults`; README, "The default model").

Options the user set always win: `config_for_model` changes only fields the caller did not
set: those named in `PipelineConfig.user_options` (the CLI records what was given, so
`--steps 450` stays 450 even though 450 is the stage default) and those that differ from
their stage default (how a config built in Python says what it wants). It is idempotent, so
the CLI, batch jobs and `edit_photo` can each apply it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from align import FACE_PRESETS, AlignConfig, PasteConfig, face_preset_values
from draggan import DragConfig
from inversion import InversionConfig
from pipeline.config import PipelineConfig
from pipeline.errors import PipelineError

__all__ = [
    "SMALL_MODEL_MAX_RESOLUTION",
    "SMALL_MODEL_INVERSION",
    "SMALL_MODEL_DRAG",
    "SMALL_MODEL_PASTE",
    "model_face_preset",
    "changed_fields",
    "config_for_model",
]

# Generators up to this resolution get the small-model settings below.
SMALL_MODEL_MAX_RESOLUTION = 128

# Measured on the shipped face-64 model and 6 held-out UTKFace faces (evaluation.tune_defaults;
# README "Defaults for small models"): PTI keeps gaining past 150 steps (26.1 dB at 150, 27.6 at
# 250), but 150 clears the 24 dB bar (25.8 dB over 50 faces) and keeps the README's first
# command near 30 s on a 2-core CPU; W 450 adds 0.9 dB to the pivot for 28 s more.
SMALL_MODEL_INVERSION: dict[str, Any] = {
    "w_steps": 200,
    "wplus_steps": 200,
    "pti_steps": 150,
    "lpips_net": "squeeze",  # ships with the package: the default run downloads nothing
    "pti_lpips_net": "squeeze",
    "lpips_min_resolution": 128,  # upsample 64-px images 2x before LPIPS: SqueezeNet's last layers would be
    # 3x3 at 64 px (not swept)
}

# At 64 px the 512-px radii scale to r1 = 1 / r2 = 2 px and the stop distance to 2 px, which
# is most of the ~3-px drag of a mouth corner; the feature block stays DragGAN's default for
# small models (half the image side, b32). Stop distance and tracking were measured on held-out
# faces (README, "The default model"): 0.5 px rarely converges, 1 px does.
# Learning rate and step cap (issue 18, point 6; `python -m evaluation.drag_stability --faces 4
# --fraction 0.25`, README "Drag steadiness"): at lr 2e-3 a long drag makes the tracked handles
# jump (1.32 px mean, 3.61 worst, between two steps) and go back (0.35 px mean); the jumps bend the
# flow the photo composite follows (a pushed cheek contour on the README's example). lr 1e-3
# (the official GUI's) halves the jumps (0.88 mean) and all but removes the going back (0.06),
# drifts 0.7 dB less away from the points, and converges on 5/5 faces, in 1.9x the steps (about
# 2 s more on the README's example). The cap doubles with the steps: every mouth drag measured
# ended by step 310; eyebrow drags near the crop's top edge need up to 450 (4/5 converge within
# 600, as 4/5 did within 300 at lr 2e-3; 2/5 within 400).
SMALL_MODEL_DRAG: dict[str, Any] = {
    "r1": 12.0,  # 512-px units: 1.5 px at 64 px (the paper's 3 -> 1 px did as well on 6 faces)
    "r2": 24.0,  # 512-px units: 3 px at 64 px (the paper's 12 -> 2 px did as well)
    "stop_distance": 1.0,  # image px
    "subpixel_tracking": True,  # ends nearer fractional targets; integer tracking converged as often
    "lr": 1e-3,  # steadier tracking than 2e-3 (above)
    "max_steps": 600,  # lr 1e-3 takes about twice the steps of 2e-3 (above)
}

# The photo composite's appearance residual (`PasteConfig.residual_threshold`, issue 18, point 6):
# a 64-px generator redraws a moved mouth corner as a blur of 20-40 grey levels (a dark wedge at
# one corner and a pale patch at the other on the README's example, enlarged 3x onto the photo),
# and no drag setting tried removed it (lr, r1, r2, W+ rows, w space, noise, PTI steps, W / W+
# inversion). The 512-px default of 20 levels lets it through as smears: on the README's example
# the residual changed 816 photo pixels by more than 10 levels (up to 93); at 40 levels (with
# lr 1e-3) 45 pixels (up to 64), and the mouth corners look clean at 4x. Stronger residuals
# (new content) still pass; not measured on a mouth that opens. The composite table on 5
# portraits keeps seam 0 and reaches 0.46 (README, "Putting the edit back into the photo").
SMALL_MODEL_PASTE: dict[str, Any] = {
    "residual_threshold": 40.0,
}


def model_face_preset(G, info=None) -> str:
    """The face framing a generator was trained on.

    Args:
        G: the generator (`G.metadata['face_preset']` from a native file, if any).
        info: its `hub.registry.CheckpointInfo`, or None for a file given by path.

    Returns:
        A key of `align.FACE_PRESETS`: the file's record wins over the registry's, which
        wins over 'ffhq' (the framing of every public StyleGAN2 face model).
    """
    preset = getattr(G, "metadata", {}).get("face_preset")
    if preset is None and info is not None:
        preset = info.face_preset
    if preset is None:
        return "ffhq"
    if preset not in FACE_PRESETS:
        raise PipelineError(
            f"the checkpoint records face preset {preset!r}, which this version does not know "
            f"({sorted(FACE_PRESETS)}); pass --face-preset NAME"
        )
    return preset


def changed_fields(config: PipelineConfig) -> frozenset[str]:
    """Fields of `config` that differ from their defaults, as 'stage.field' names.

    This is how `config_for_model` tells, for a config built in Python, what the caller chose.
    """
    names = set()
    defaults = (
        ("align", AlignConfig()),
        ("inversion", InversionConfig()),
        ("drag", DragConfig()),
        ("paste", PasteConfig()),
    )
    for stage, default in defaults:
        value = getattr(config, stage)
        for field in dataclasses.fields(default):
            if getattr(value, field.name) != getattr(default, field.name):
                names.add(f"{stage}.{field.name}")
    return frozenset(names)


def _fill(stage_config, stage: str, values: dict[str, Any], explicit: frozenset[str]):
    changes = {name: value for name, value in values.items() if f"{stage}.{name}" not in explicit}
    return dataclasses.replace(stage_config, **changes) if changes else stage_config


def config_for_model(config: PipelineConfig, G, info=None, explicit: Iterable[str] | None = None) -> PipelineConfig:
    """The config to edit with `G`: `config` plus the model's own settings where the user set none.

    Args:
        config: the user's config.
        G: the generator (its `img_resolution` and `metadata` are read).
        info: its registry entry (`CheckpointInfo`), or None for a file given by path.
        explicit: more 'stage.field' names the user set (e.g. 'inversion.w_steps', 'align.eye_scale'),
            added to `config.user_options` and `changed_fields(config)`.

    Returns:
        A new `PipelineConfig` (or `config` itself when nothing changes).
    """
    explicit = changed_fields(config) | frozenset(config.user_options) | frozenset(explicit or ())
    align, inv, drag, paste = config.align, config.inversion, config.drag, config.paste
    if config.align_mode == "face":
        # Cut the crop the way the model's training images were cut.
        align = _fill(align, "align", face_preset_values(model_face_preset(G, info)), explicit)
    elif info is not None and info.content_aspect != 1.0:
        align = _fill(align, "align", {"content_aspect": info.content_aspect}, explicit)
    if int(G.img_resolution) <= SMALL_MODEL_MAX_RESOLUTION:
        inv_values = dict(SMALL_MODEL_INVERSION)
        # The user's LPIPS choice (a net, or a backbone file, which serves one net) is kept whole.
        if explicit & {"inversion.lpips_net", "inversion.pti_lpips_net", "inversion.lpips_backbone"}:
            del inv_values["lpips_net"], inv_values["pti_lpips_net"]
        inv = _fill(inv, "inversion", inv_values, explicit)
        drag = _fill(drag, "drag", SMALL_MODEL_DRAG, explicit)
        paste = _fill(paste, "paste", SMALL_MODEL_PASTE, explicit)
    if (align, inv, drag, paste) == (config.align, config.inversion, config.drag, config.paste):
        return config
    return dataclasses.replace(config, align=align, inversion=inv, drag=drag, paste=paste)
