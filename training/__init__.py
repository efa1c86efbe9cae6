"""Training a StyleGAN2 generator on aligned face crops, and measuring the result.

    python -m training.prepare --images ../shared/data/utkface --out data/utk64 --size 64
    python -m training.train --data data/utk64 --out runs/face64 --resolution 64
    python -m evaluation.face_model_report --checkpoint face-64

The trainer (`training.train`), its discriminator, DiffAugment and dataset live here, apart
from the generator (`stylegan`): training imports `common`, `align` and `stylegan` only, and
no library package imports `training` (the measuring tools of `evaluation` read its hold-out
list). Its errors are in `training.errors`.
"""
