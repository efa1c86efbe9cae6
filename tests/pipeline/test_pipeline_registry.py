"""Checkpoint registry: names, resolution of paths and names, downloads (file:// only), offline errors."""

from __future__ import annotations

import torch
import pytest

from pipeline import registry
from pipeline.errors import UnknownCheckpointError
from pipeline.registry import (
    DEFAULT_CHECKPOINT,
    PACKAGES_ROOT,
    OFFLINE_CHECKPOINT,
    REGISTRY,
    build_random_generator,
    domain_warning,
    download_file,
    load_checkpoint,
    resolve_checkpoint,
)
from stylegan import MissingWeightsError


def test_registry_entries_are_complete():
    assert DEFAULT_CHECKPOINT in REGISTRY and OFFLINE_CHECKPOINT in REGISTRY
    assert REGISTRY[OFFLINE_CHECKPOINT].format == "builtin" and REGISTRY[OFFLINE_CHECKPOINT].url is None
    files = [i.filename for i in REGISTRY.values() if i.url]
    assert len(files) == len(set(files)), "two entries would share a file in checkpoints/"
    mmagic = [i for i in REGISTRY.values() if i.format == "mmagic-pth"]
    assert len(mmagic) == 8  # the eight DragGAN models of mmagic's table
    for info in REGISTRY.values():
        assert info.resolution in (64, 256, 512, 1024)
        if info.packaged is not None:
            assert (PACKAGES_ROOT / info.packaged).is_file() and info.url is None
        elif info.format != "builtin":
            assert info.url.startswith(("https://", "http://")) and info.filename


def test_existing_path_wins(tmp_path):
    f = tmp_path / "ffhq-512"  # a file named like a registry entry
    f.write_bytes(b"x")
    resolved = resolve_checkpoint(str(f))
    assert resolved.name is None and resolved.path == f.resolve() and resolved.info is None


def test_unknown_name_lists_known_names(tmp_path):
    with pytest.raises(UnknownCheckpointError, match="unknown checkpoint name 'ffhq-9000'.*ffhq-512"):
        resolve_checkpoint("ffhq-9000", tmp_path)
    assert issubclass(UnknownCheckpointError, ValueError)


def test_missing_file_path_is_bad_input(tmp_path):
    with pytest.raises(UnknownCheckpointError, match="checkpoint file not found"):
        resolve_checkpoint(str(tmp_path / "model.pkl"), tmp_path)


def test_offline_says_which_file_to_put_where(tmp_path, monkeypatch):
    info = REGISTRY["ffhq-256"]
    with pytest.raises(MissingWeightsError) as exc:
        resolve_checkpoint("ffhq-256", tmp_path, allow_download=False)
    message = str(exc.value)
    assert info.url in message and str(tmp_path / info.filename) in message
    monkeypatch.setenv("DRAGGAN_OFFLINE", "1")
    with pytest.raises(MissingWeightsError):
        resolve_checkpoint("ffhq-256", tmp_path, allow_download=True)
    assert not list(tmp_path.iterdir())


def test_registered_file_already_present_is_used(tmp_path):
    info = REGISTRY["lions-512"]
    (tmp_path / info.filename).write_bytes(b"weights")
    resolved = resolve_checkpoint("lions-512", tmp_path, allow_download=False)
    assert resolved.path == (tmp_path / info.filename).resolve() and not resolved.downloaded


def test_download_renames_only_when_complete(tmp_path, monkeypatch):
    source = tmp_path / "remote.bin"
    source.write_bytes(bytes(range(256)) * 100)
    dest = tmp_path / "ckpt" / "model.pkl"
    download_file(source.as_uri(), dest, progress=False)
    assert dest.read_bytes() == source.read_bytes()
    assert not (dest.parent / "model.pkl.part").exists()


def test_failed_download_leaves_nothing(tmp_path):
    dest = tmp_path / "model.pkl"
    with pytest.raises(MissingWeightsError, match="could not download"):
        download_file((tmp_path / "absent.bin").as_uri(), dest, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_registry_download_through_a_local_url(tmp_path, monkeypatch, tiny_checkpoint):
    # Point a registry entry at a file:// URL: the whole resolve -> download -> load path runs offline.
    info = registry.CheckpointInfo("tiny-test", "tiny.pt", tiny_checkpoint.as_uri(), "native", "none", 32, "test")
    monkeypatch.setitem(REGISTRY, "tiny-test", info)
    folder = tmp_path / "checkpoints"
    resolved = resolve_checkpoint("tiny-test", folder, progress=False)
    assert resolved.downloaded and resolved.path == (folder / "tiny.pt").resolve()
    G = load_checkpoint(resolved)
    assert G.img_resolution == 32
    assert not resolve_checkpoint("tiny-test", folder).downloaded  # second time: already there


def test_random_generator_is_deterministic_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    G1 = build_random_generator(64, seed=0)
    after = torch.rand(1)
    G2 = build_random_generator(64, seed=0)
    assert torch.equal(before, after)
    assert G1.img_resolution == 64
    for (k, a), (_, b) in zip(G1.state_dict().items(), G2.state_dict().items()):
        assert torch.equal(a, b), k


def test_domain_warning():
    assert domain_warning(REGISTRY["afhqcat-512"], "face") is not None
    assert domain_warning(REGISTRY["afhqcat-512"], "box") is None
    assert domain_warning(REGISTRY["ffhq-512"], "face") is None
    assert domain_warning(None, "face") is None


def test_packaged_file_is_found_without_download(tmp_path, monkeypatch, tiny_checkpoint):
    # A model shipped inside the installed packages wins over the checkpoints folder and is never downloaded.
    monkeypatch.setattr(registry, "PACKAGES_ROOT", tiny_checkpoint.parent)
    info = registry.CheckpointInfo("packaged-test", "tiny.pt", None, "native", "face", 32, "test",
                                   face_preset="ffhq", packaged=tiny_checkpoint.name)
    monkeypatch.setitem(REGISTRY, "packaged-test", info)
    resolved = resolve_checkpoint("packaged-test", tmp_path / "empty", allow_download=False)
    assert resolved.path == tiny_checkpoint and not resolved.downloaded
    monkeypatch.setattr(registry, "PACKAGES_ROOT", tmp_path / "elsewhere")
    with pytest.raises(MissingWeightsError, match="should ship with the package"):
        resolve_checkpoint("packaged-test", tmp_path / "empty")


def test_default_is_the_packaged_face_model_and_needs_no_network(tmp_path, monkeypatch):
    monkeypatch.setenv("DRAGGAN_OFFLINE", "1")
    resolved = resolve_checkpoint(DEFAULT_CHECKPOINT, tmp_path / "empty", allow_download=False)
    assert DEFAULT_CHECKPOINT == "face-64" and resolved.path == PACKAGES_ROOT / "stylegan" / "data" / "face64-fp16.pt"
    G = load_checkpoint(resolved)
    # The file itself records the framing it was trained with, so it is aligned right by path too.
    assert (G.img_resolution, G.metadata["face_preset"], resolved.info.face_preset) == (64, "utkface", "utkface")
    assert resolved.info.domain == "face"
