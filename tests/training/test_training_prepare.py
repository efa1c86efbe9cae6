"""Dataset preparation (alignment of training crops) and the face-rate quality proxy."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from align import FACE_PRESETS, AlignConfig, align_face
from evaluation.face_model_report import FaceRateConfig, face_detection_rate
from training.dataset import ImageFolderDataset, load_holdout
from training.errors import PrepareError
from training.prepare import PrepareConfig, main, prepare_dataset


def test_prepare_writes_aligned_crops_and_skips_holdout(tmp_path, utkface_dir):
    holdout = load_holdout()
    kept = sorted(p.name for p in utkface_dir.iterdir() if p.name not in set(holdout))[:2]
    images = tmp_path / "photos"
    images.mkdir()
    for name in kept + [holdout[0]]:
        (images / name).write_bytes((utkface_dir / name).read_bytes())
    (images / "blank.png").write_bytes(_png(np.full((64, 64, 3), 128, np.uint8)))  # no face in it

    result = prepare_dataset(images, tmp_path / "aligned", PrepareConfig(size=64), progress=False)
    assert (result.total, result.held_out, result.no_face, result.unreadable) == (4, 1, 1, 0)
    assert result.written == 2 and result.no_face_names == ["blank.png"]
    crops = sorted(p.name for p in (tmp_path / "aligned").glob("*.png"))
    assert crops == sorted(name.rsplit(".", 1)[0] + ".png" for name in kept)
    ds = ImageFolderDataset(tmp_path / "aligned", 64, exclude=holdout, xflip=False)
    assert ds.num_images == 2 and ds.get_uint8(0).shape == (64, 64, 3)
    manifest = json.loads(result.manifest.read_text())
    assert manifest["preset"] == "utkface" and manifest["size"] == 64
    assert manifest["counts"]["written"] == 2 and manifest["counts"]["held_out"] == 1
    ok = [r for r in manifest["images"] if r["status"] == "ok"]
    assert len(ok) == 2 and all(r["landmarks_ok"] and r["crop"] in crops for r in ok)
    assert holdout[0] not in {r["source"] for r in manifest["images"]}


def test_prepare_cli_jpeg_output(tmp_path, utkface_dir):
    holdout = set(load_holdout())
    name = next(p.name for p in sorted(utkface_dir.iterdir()) if p.name not in holdout)
    images = tmp_path / "photos"
    images.mkdir()
    (images / name).write_bytes((utkface_dir / name).read_bytes())
    assert (
        main(
            [
                "--images",
                str(images),
                "--out",
                str(tmp_path / "out"),
                "--size",
                "32",
                "--format",
                "jpg",
                "--no-progress",
            ]
        )
        == 0
    )
    from PIL import Image

    with Image.open(tmp_path / "out" / (name.rsplit(".", 1)[0] + ".jpg")) as crop:
        assert crop.size == (32, 32)


def test_utkface_preset_and_errors(tmp_path):
    config = AlignConfig.from_preset("utkface")
    expected = FACE_PRESETS["utkface"]
    assert (config.eye_scale, config.mouth_scale, config.center_shift) == tuple(expected)
    assert AlignConfig.from_preset("ffhq").eye_scale == 2.0
    with pytest.raises(PrepareError, match="unknown face preset"):
        PrepareConfig(preset="nope")
    with pytest.raises(PrepareError, match="does not exist"):
        prepare_dataset(tmp_path / "missing", tmp_path / "out", progress=False)
    with pytest.raises(ValueError):
        PrepareConfig(image_format="gif")


def test_prepare_write_holdout_regenerates_the_committed_list(tmp_path, utkface_dir):
    target = tmp_path / "holdout.txt"
    assert main(["--images", str(utkface_dir), "--write-holdout", str(target)]) == 0
    assert load_holdout(target) == load_holdout()


# ----------------------------------------------------------------------------- face-rate proxy


class _ImageGenerator(torch.nn.Module):
    """Stands in for a generator: returns the same image for every latent."""

    def __init__(self, image: np.ndarray):
        super().__init__()
        self.z_dim, self.c_dim, self.img_resolution = 8, 0, image.shape[0]
        self.register_buffer("image", torch.from_numpy(image).permute(2, 0, 1).float() / 127.5 - 1)

    @property
    def device(self):
        return self.image.device

    def forward(self, z, c=None, truncation_psi=1.0, noise_mode="const"):
        return self.image.unsqueeze(0).repeat(z.shape[0], 1, 1, 1)


def test_face_rate_finds_a_real_face_and_not_a_blank():
    from skimage import data

    face = np.array(align_face(data.astronaut(), 128, config=AlignConfig.from_preset("utkface")).crop)
    config = FaceRateConfig(num_samples=3, batch=2)
    hit = face_detection_rate(_ImageGenerator(face), config)
    assert (hit.rate, hit.detected, hit.total) == (1.0, 3, 3) and hit.images.shape == (3, 128, 128, 3)
    miss = face_detection_rate(_ImageGenerator(np.full((128, 128, 3), 90, np.uint8)), config)
    assert (miss.rate, miss.detected) == (0.0, 0) and not miss.found.any()


def test_face_rate_on_a_random_generator_is_deterministic(tiny_G):
    config = FaceRateConfig(num_samples=4, batch=3)
    a = face_detection_rate(tiny_G, config)
    b = face_detection_rate(tiny_G, config)
    assert 0.0 <= a.rate <= 1.0 and a.total == 4 and a.images.dtype == np.uint8
    assert np.array_equal(a.images, b.images) and np.array_equal(a.found, b.found)


def _png(array: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()
