"""The trainer's parts: DiffAugment, the discriminator, the data set and hold-out list, the config.

Everything runs on CPU on small tensors and a few images written into tmp_path.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from training_testutils import write_images

from common.errors import EXIT_BAD_INPUT, DragPipelineError
from stylegan.checkpoints import save_generator
from training.augment import (
    diff_augment,
    parse_policy,
    rand_brightness,
    rand_contrast,
    rand_cutout,
    rand_saturation,
    rand_translation,
)
from training.config import TrainConfig, r1_gamma_heuristic
from training.dataset import (
    HOLDOUT_PATH,
    ImageFolderDataset,
    load_holdout,
    make_holdout_list,
)
from training.discriminator import Discriminator, MinibatchStdLayer
from training.errors import AugmentError, DatasetError, PrepareError, TrainError, TrainingError
from training.trainer import build_networks

# ----------------------------------------------------------------------------- augmentation


@pytest.mark.parametrize("op", [rand_brightness, rand_saturation, rand_contrast, rand_translation, rand_cutout])
def test_each_augmentation_keeps_shape_and_is_differentiable(op):
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    y = op(x, generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == x.dtype
    (grad,) = torch.autograd.grad((y * torch.randn_like(y)).sum(), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_full_policy_is_differentiable_and_seeded():
    x = torch.randn(8, 3, 32, 32, requires_grad=True)
    y1 = diff_augment(x, "color,translation,cutout", generator=torch.Generator().manual_seed(3))
    y2 = diff_augment(x, "color,translation,cutout", generator=torch.Generator().manual_seed(3))
    assert y1.shape == x.shape
    torch.testing.assert_close(y1, y2, rtol=0, atol=0)
    y1.square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert diff_augment(x, "none") is x


def test_translation_is_an_integer_shift_with_zero_fill():
    x = torch.arange(1, 1 + 2 * 16 * 16, dtype=torch.float32).reshape(2, 1, 16, 16)
    y = rand_translation(x, generator=torch.Generator().manual_seed(1))
    for i in range(2):
        matches = []
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                expected = torch.zeros(16, 16)
                ys, xs = slice(max(dy, 0), 16 + min(dy, 0)), slice(max(dx, 0), 16 + min(dx, 0))
                ys_src, xs_src = slice(max(-dy, 0), 16 + min(-dy, 0)), slice(max(-dx, 0), 16 + min(-dx, 0))
                expected[ys, xs] = x[i, 0, ys_src, xs_src]
                matches.append(torch.equal(y[i, 0], expected))
        assert sum(matches) == 1  # exactly one shift within 1/8 of 16 px = 2 px


def test_cutout_zeroes_one_square_of_half_the_side():
    x = torch.ones(16, 3, 16, 16)
    y = rand_cutout(x, generator=torch.Generator().manual_seed(0))
    assert set(y.unique().tolist()) <= {0.0, 1.0}
    for image in y:
        zero = image[0] == 0
        assert torch.equal(zero, image[1] == 0)
        rows, cols = zero.any(1).nonzero().flatten(), zero.any(0).nonzero().flatten()
        if len(rows):  # a rectangle, at most 8 x 8 (smaller where the border cuts it)
            assert zero.sum() == len(rows) * len(cols) and len(rows) <= 8 and len(cols) <= 8
            assert rows.max() - rows.min() + 1 == len(rows) and cols.max() - cols.min() + 1 == len(cols)


def test_brightness_shifts_every_pixel_of_an_image_equally():
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    d = rand_brightness(x, generator=torch.Generator().manual_seed(0)) - x
    # (x + c) - x rounds to c within float32 epsilon of |x|, not of |c|.
    assert torch.allclose(d, d[:, :1, :1, :1].expand_as(d), atol=1e-6) and d.abs().max() <= 0.5


def test_augment_probability_zero_and_one():
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(diff_augment(x, "color,translation,cutout", p=torch.tensor(0.0)), x)
    gen = torch.Generator().manual_seed(3)
    always = diff_augment(x, "color", generator=gen)
    assert not torch.equal(always, x)


def test_bad_policy_is_refused():
    with pytest.raises(AugmentError, match="unknown augmentation"):
        parse_policy("color,rotate")
    assert issubclass(AugmentError, (DragPipelineError, ValueError))


def test_every_training_error_is_bad_input_of_the_one_hierarchy():
    for error in (AugmentError, DatasetError, TrainError, PrepareError):
        assert issubclass(error, TrainingError) and issubclass(error, (DragPipelineError, ValueError))
        assert error("x").exit_code == EXIT_BAD_INPUT


# ----------------------------------------------------------------------------- discriminator


def test_discriminator_shapes_names_and_gradients():
    D = Discriminator(32, channel_base=256, channel_max=32, mbstd_group_size=4)
    img = torch.randn(8, 3, 32, 32, requires_grad=True)
    logits = D(img)
    assert logits.shape == (8, 1) and logits.dtype == torch.float32
    (grad,) = torch.autograd.grad(logits.sum(), img)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    keys = set(D.state_dict())
    # NVlabs stylegan2-ada-pytorch names (resnet architecture).
    for key in (
        "b32.fromrgb.weight",
        "b32.conv0.weight",
        "b32.conv1.bias",
        "b32.skip.weight",
        "b8.skip.weight",
        "b4.conv.weight",
        "b4.fc.weight",
        "b4.out.weight",
        "b4.out.bias",
        "b32.resample_filter",
    ):
        assert key in keys
    assert "b16.fromrgb.weight" not in keys and "b32.skip.bias" not in keys
    assert D.b4.out.weight.shape == (1, D.channels[4])
    with pytest.raises(ValueError, match="shape"):
        D(torch.randn(8, 3, 16, 16))


def test_minibatch_std_groups_samples_by_index_modulo():
    layer = MinibatchStdLayer(group_size=2)
    x = torch.zeros(4, 2, 1, 1)
    x[2] = 3.0  # group 0 = samples {0, 2} differ by 3 -> std 1.5; group 1 = {1, 3} equal -> 0
    y = layer(x)
    assert y.shape == (4, 3, 1, 1)
    torch.testing.assert_close(y[:, 2, 0, 0], torch.tensor([1.5, 0.0, 1.5, 0.0]), atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="multiple"):
        MinibatchStdLayer(4)(torch.zeros(6, 2, 1, 1))


def test_discriminator_downsampling_halves_resolution_and_keeps_constants():
    D = Discriminator(16, channel_base=64, channel_max=4)
    x = torch.ones(2, 4, 16, 16)
    with torch.no_grad():
        D.b16.skip.weight.copy_(torch.eye(4).reshape(4, 4, 1, 1))
        y = D.b16.skip(x)
    assert y.shape == (2, 4, 8, 8)
    # FIR low-pass of a constant is the constant away from the zero-padded border.
    torch.testing.assert_close(y[..., 1:-1, 1:-1], torch.full_like(y[..., 1:-1, 1:-1], 0.5), rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- data set and hold-out list


def test_dataset_reads_resizes_flips_and_caches(tmp_path):
    folder = write_images(tmp_path / "d", count=3, size=24)
    (folder / "notes.txt").write_text("not an image")
    ds = ImageFolderDataset(folder, 16, xflip=True)
    assert len(ds) == 6 and ds.num_images == 3
    x = ds[0]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1
    torch.testing.assert_close(ds[3], x.flip(2), rtol=0, atol=0)
    cached = ImageFolderDataset(folder, 16, xflip=True, cache=True)
    for i in range(len(ds)):
        torch.testing.assert_close(cached[i], ds[i], rtol=0, atol=0)
    assert cached.uint8_images().shape == (3, 16, 16, 3)
    # Area resize of a constant image is the constant.
    const = write_images(tmp_path / "c", names=["c.png"], size=24, seed=1)
    from PIL import Image

    Image.fromarray(np.full((24, 24, 3), 200, np.uint8)).save(const / "c.png")
    assert ImageFolderDataset(const, 16, xflip=False).get_uint8(0).tolist() == np.full((16, 16, 3), 200).tolist()


def test_dataset_excludes_holdout_names_by_stem(tmp_path):
    names = ["1_0_0_20170101.jpg.chip.png", "2_1_0_20170102.jpg.chip.png", "3_0_1_20170103.jpg.chip.png"]
    folder = write_images(tmp_path / "aligned", names=names, size=16)
    # The hold-out list names the *source* files (.jpg.chip.jpg); the crops are .png.
    holdout = ["2_1_0_20170102.jpg.chip.jpg"]
    ds = ImageFolderDataset(folder, 16, exclude=holdout, xflip=False)
    assert ds.names == [names[0], names[2]] and ds.num_excluded == 1
    with pytest.raises(DatasetError, match="no usable images"):
        ImageFolderDataset(folder, 16, exclude=names)
    with pytest.raises(DatasetError, match="does not exist"):
        ImageFolderDataset(tmp_path / "missing", 16)


def test_committed_holdout_list_is_300_sorted_unique_names():
    names = load_holdout()
    assert HOLDOUT_PATH.name == "utkface_holdout.txt"
    assert len(names) == 300 and len(set(names)) == 300 and names == sorted(names)
    assert all(name.endswith(".jpg.chip.jpg") for name in names)


def test_holdout_list_regenerates_from_the_folder_listing(utkface_dir):
    listing = [p.name for p in utkface_dir.iterdir()]
    assert make_holdout_list(listing, count=300, seed=0) == load_holdout()
    assert set(load_holdout()) <= set(listing)


def test_make_holdout_list_is_deterministic_and_order_free():
    names = [f"n{i}.jpg" for i in range(50)]
    a = make_holdout_list(names, count=7, seed=0)
    assert a == make_holdout_list(list(reversed(names)), count=7, seed=0) and len(a) == 7 and a == sorted(a)
    assert a != make_holdout_list(names, count=7, seed=1)
    with pytest.raises(DatasetError):
        make_holdout_list(names, count=51)


# ----------------------------------------------------------------------------- config and network size


def test_config_validation_and_heuristics():
    assert r1_gamma_heuristic(128, 32) == pytest.approx(0.1024)
    config = TrainConfig()
    assert config.effective_r1_gamma == pytest.approx(0.1024) and config.effective_ema_kimg == 10
    assert config.resolution == 128 and config.betas == (0.0, 0.99)
    for bad in (
        dict(resolution=100),
        dict(batch=6),
        dict(amp="fp8"),
        dict(augment="color,zoom"),
        dict(betas=(0.0, 1.0)),
        dict(kimg=-1),
        dict(style_mixing_prob=1.5),
        dict(batch=0),
    ):
        with pytest.raises(ValueError):
            dataclasses.replace(config, **bad)
    with pytest.raises(TrainError, match="multiple of mbstd_group"):
        dataclasses.replace(config, batch=6)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_default_model_fits_25_mb_in_fp16(tmp_path):
    torch.manual_seed(0)
    G, _ = build_networks(TrainConfig())
    assert G.img_resolution == 128 and G.synthesis.channels[128] == 64
    path = save_generator(G, tmp_path / "g16.pt", half=True)
    assert path.stat().st_size < 25 * 2**20
