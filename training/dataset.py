"""A folder of already-aligned training images, and the fixed UTKFace hold-out list.

Alignment is not done here (it belongs to `align/`, and `stylegan` must not import it):
run `python -m training.prepare` first, which writes the aligned crops this
dataset reads.

Images are matched against exclusion lists by *stem*, the file name without its last
extension, so that a hold-out list of the source names (`x.jpg.chip.jpg`) also excludes
the aligned crops written from them (`x.jpg.chip.png`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from common.images import read_image
from training.errors import DatasetError

__all__ = [
    "ImageFolderDataset",
    "IMAGE_EXTENSIONS",
    "HOLDOUT_PATH",
    "HOLDOUT_COUNT",
    "HOLDOUT_SEED",
    "load_holdout",
    "make_holdout_list",
    "write_holdout",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
HOLDOUT_PATH = Path(__file__).resolve().parent / "data" / "utkface_holdout.txt"
HOLDOUT_COUNT = 300
HOLDOUT_SEED = 0


def _stem(name: str) -> str:
    return Path(name).stem


def make_holdout_list(names: Iterable[str], count: int = HOLDOUT_COUNT, seed: int = HOLDOUT_SEED) -> list[str]:
    """Picks a fixed, seeded random subset of file names to hold out from training.

    The choice ranks the sorted names by SHA-256 of f"{seed}:{name}" and keeps the
    first `count`; unlike `random.sample` or numpy it gives the same answer on every
    Python and numpy version, so the committed list can always be regenerated.

    Args:
        names: file names (base names, not paths) of the whole data set.
        count: number of names to hold out (<= number of distinct names).
        seed: the seed; the committed UTKFace list uses 0.

    Returns:
        The chosen names, sorted.
    """
    unique = sorted(set(names))
    if not 0 <= count <= len(unique):
        raise DatasetError(f"cannot hold out {count} of {len(unique)} names; pass a count <= {len(unique)}")
    ranked = sorted(unique, key=lambda name: hashlib.sha256(f"{seed}:{name}".encode()).hexdigest())
    return sorted(ranked[:count])


def write_holdout(
    image_dir: str | Path, path: str | Path = HOLDOUT_PATH, count: int = HOLDOUT_COUNT, seed: int = HOLDOUT_SEED
) -> list[str]:
    """Regenerates a hold-out list file from a folder listing (one name per line).

    Args:
        image_dir: the folder of source images (e.g. ../shared/data/utkface).
        path: the text file to write.
        count: number of names to hold out.
        seed: the seed of `make_holdout_list`.

    Returns:
        The names written, sorted.
    """
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise DatasetError(f"image folder {image_dir} does not exist; pass the folder of source images")
    names = [p.name for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS]
    chosen = make_holdout_list(names, count=count, seed=seed)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("".join(f"{name}\n" for name in chosen))
    return chosen


def load_holdout(path: str | Path = HOLDOUT_PATH) -> list[str]:
    """Reads a hold-out list (one file name per line; blank lines and '#' comments ignored).

    Args:
        path: the list; default the committed UTKFace list (300 names).

    Returns:
        The names in file order.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"hold-out list {path} not found; regenerate it with training.dataset.write_holdout")
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _read_rgb(path: Path) -> np.ndarray:
    # The project's one image reader: EXIF orientation, modes, 16-bit and the pixel limit.
    return read_image(path, what="data-set image", error=DatasetError, too_large_fix="remove the file or downscale it")


def _resize_area(image: np.ndarray, resolution: int) -> np.ndarray:
    import cv2

    if image.shape[0] == resolution and image.shape[1] == resolution:
        return image
    # INTER_AREA averages the source pixels under each output pixel when shrinking
    # (no aliasing); enlarging, it behaves like bilinear.
    return cv2.resize(image, (resolution, resolution), interpolation=cv2.INTER_AREA)


class ImageFolderDataset(torch.utils.data.Dataset):
    """Aligned square images from one folder (not recursive), as training tensors.

    With `xflip`, the data set has 2N items: item i < N is image i, item N + i is
    image i mirrored left-right (as NVlabs' `--mirror`), so the flip is a
    deterministic function of the index and a seeded sampler reproduces batches.
    """

    def __init__(
        self,
        path: str | Path,  # Folder of PNG/JPG images (already aligned, square).
        resolution: int,  # Side of the training images; others are resized (area).
        exclude: Iterable[str] | None = None,  # File names (matched by stem) never to use, None = none.
        xflip: bool = True,  # Add a mirrored copy of every image.
        cache: bool = False,  # Keep every image in memory as uint8 (N, R, R, 3).
    ):
        self.path = Path(path)
        if not self.path.is_dir():
            raise DatasetError(
                f"training image folder {self.path} does not exist; run `python -m training.prepare` to create it"
            )
        if not (isinstance(resolution, int) and resolution >= 4):
            raise DatasetError(f"resolution must be an int >= 4, got {resolution!r}")
        self.resolution = resolution
        self.xflip = bool(xflip)
        excluded = {_stem(name) for name in (exclude or ())}
        files = sorted(p for p in self.path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        self.num_excluded = sum(_stem(p.name) in excluded for p in files)
        self.files = [p for p in files if _stem(p.name) not in excluded]
        if not self.files:
            raise DatasetError(
                f"no usable images ({', '.join(IMAGE_EXTENSIONS)}) in {self.path}; "
                f"check the folder or the exclusion list"
            )
        self.names = [p.name for p in self.files]
        self._cache: np.ndarray | None = None
        if cache:
            self._cache = np.stack([self._load(i) for i in range(len(self.files))])

    @property
    def num_images(self) -> int:
        """Number of distinct images (without mirrored copies)."""
        return len(self.files)

    def __len__(self) -> int:
        return self.num_images * (2 if self.xflip else 1)

    def _load(self, index: int) -> np.ndarray:
        return _resize_area(_read_rgb(self.files[index]), self.resolution)

    def uint8_images(self) -> torch.Tensor:
        """All images as one uint8 tensor (N, R, R, 3) RGB, without mirrored copies.

        Uses the in-memory cache when there is one (shares its memory), else reads
        every file.
        """
        if self._cache is None:
            return torch.from_numpy(np.stack([self._load(i) for i in range(self.num_images)]))
        return torch.from_numpy(self._cache)

    def get_uint8(self, index: int) -> np.ndarray:
        """Item `index` (mirrored when index >= num_images) as uint8 (R, R, 3) RGB."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a data set of {len(self)} items")
        index %= len(self)
        source, flip = index % self.num_images, index >= self.num_images
        image = self._cache[source] if self._cache is not None else self._load(source)
        return np.ascontiguousarray(image[:, ::-1]) if flip else image

    def __getitem__(self, index: int) -> torch.Tensor:
        """Item `index` as float32 (3, R, R) in [-1, 1]."""
        image = torch.from_numpy(np.array(self.get_uint8(index), copy=True))
        return image.permute(2, 0, 1).to(torch.float32) / 127.5 - 1
