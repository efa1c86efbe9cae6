"""Fixtures for the training tests: a tiny folder of training images."""

from __future__ import annotations

import pytest
from training_testutils import write_images


@pytest.fixture
def data_dir(tmp_path):
    """Six 16-px images (img00.png ... img05.png) in tmp_path / 'data'."""
    return write_images(tmp_path / "data", count=6, size=16)
