"""Checkpoint registry: names, resolution of paths and names, downloads (file:// only), offline errors."""

from __future__ import annotations

import pytest
import torch

from hub import registry
from hub.errors import UnknownCheckpointError
from hub.registry import (
    DEFAULT_CHECKPOINT,
    OFFLINE_CHECKPOINT,
    PACKAGES_ROOT,
    REGISTRY,
    build_random_generator,
    domain_warning,
    download_file,
    load_checkpoint,
    resolve_checkpoint,
)
from hub.table import CHECKPOINTS, FORMAT_BUILTIN, checkpoints_by_name
from stylegan import MissingWeightsError
from stylegan.formats.ids import FORMAT_DESCRIPTIONS, FORMAT_MMAGIC, FORMAT_NATIVE


def test_registry_entries_are_complete():
    assert DEFAULT_CHECKPOINT in REGISTRY and OFFLINE_CHECKPOINT in REGISTRY
    assert REGISTRY[OFFLINE_CHECKPOINT].format == "builtin" and REGISTRY[OFFLINE_CHECKPOINT].url is None
    files = [i.filename for i in REGISTRY.values() if i.url]
    assert len(files) == len(set(files)), "two entries would share a file in checkpoints/"
    mmagic = [i for i in REGISTRY.values() if i.format == "mmagic"]
    assert len(mmagic) == 8  # the eight DragGAN models of mmagic's table
    for info in REGISTRY.values():
        assert info.resolution in (64, 256, 512, 1024)
        if info.packaged is not None:
            assert (PACKAGES_ROOT / info.packaged).is_file() and info.url is None
        elif info.format != FORMAT_BUILTIN:
            assert info.url.startswith(("https://", "http://")) and info.filename


def _info(**fields) -> registry.CheckpointInfo:
    """A registry row for tests: a 32-px native file unless `fields` say otherwise."""
    row = dict(
        name="x",
        filename="x.pt",
        url="https://example.com/x.pt",
        format=FORMAT_NATIVE,
        domain="none",
        resolution=32,
        source="test",
    )
    return registry.CheckpointInfo(**{**row, **fields})


def test_registry_speaks_the_format_vocabulary_of_the_loaders():
    # One vocabulary: a row's format is what `stylegan.checkpoints.detect_format` reports for its file.
    for info in REGISTRY.values():
        assert info.format in FORMAT_DESCRIPTIONS or info.format == FORMAT_BUILTIN, info.name
    from stylegan.checkpoints import detect_format

    packaged = [i for i in REGISTRY.values() if i.packaged is not None]
    assert packaged
    for info in packaged:
        assert detect_format(PACKAGES_ROOT / info.packaged) == info.format, info.name
    with pytest.raises(ValueError, match="format must be one of"):
        _info(format="nvlabs-pkl")  # the registry's old spelling of 'nvlabs-pickle'


def test_the_table_is_rows_of_named_fields_with_unique_names():
    assert list(REGISTRY) == [info.name for info in CHECKPOINTS]
    with pytest.raises(TypeError):
        registry.CheckpointInfo("x", "x.pt", None, FORMAT_MMAGIC, "none", 32, "test")  # positional: refused
    with pytest.raises(ValueError, match="registered twice"):
        checkpoints_by_name((_info(), _info(filename="y.pt")))
    with pytest.raises(ValueError, match="share the file name"):
        checkpoints_by_name((_info(), _info(name="y")))


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


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_download_with_the_right_hash_lands_and_leaves_no_temporary_file(tmp_path):
    source = tmp_path / "remote.bin"
    source.write_bytes(bytes(range(256)) * 100)
    dest = tmp_path / "ckpt" / "model.pkl"
    download_file(source.as_uri(), dest, sha256=_sha256(source.read_bytes()), progress=False)
    assert dest.read_bytes() == source.read_bytes()
    assert [p.name for p in dest.parent.iterdir()] == ["model.pkl"]


def test_download_with_a_wrong_hash_raises_with_both_hashes_and_removes_the_partial_file(tmp_path):
    source = tmp_path / "remote.bin"
    source.write_bytes(b"tampered weights" * 1000)
    dest = tmp_path / "ckpt" / "model.pkl"
    expected = "0" * 64
    with pytest.raises(MissingWeightsError) as info:
        download_file(source.as_uri(), dest, sha256=expected, progress=False)
    message = str(info.value)
    assert "model.pkl" in message and expected in message and _sha256(source.read_bytes()) in message
    assert list(dest.parent.iterdir()) == []  # neither the file nor a partial one


def test_a_wrong_hash_never_replaces_a_good_file(tmp_path):
    source = tmp_path / "remote.bin"
    source.write_bytes(b"new")
    dest = tmp_path / "model.pkl"
    dest.write_bytes(b"good")
    with pytest.raises(MissingWeightsError, match="wrong SHA-256"):
        download_file(source.as_uri(), dest, sha256=_sha256(b"something else"), progress=False)
    assert dest.read_bytes() == b"good" and sorted(p.name for p in tmp_path.iterdir()) == ["model.pkl", "remote.bin"]


def test_plain_http_is_refused_before_any_network_access(tmp_path, monkeypatch):
    import torch.hub

    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("network touched"))
    with pytest.raises(MissingWeightsError, match="only https"):
        download_file("http://example.com/model.pkl", tmp_path / "model.pkl", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_every_registered_url_is_https_and_every_hash_is_well_formed():
    for info in REGISTRY.values():
        assert info.url is None or info.url.startswith("https://"), info.name
        assert info.sha256 is None or len(info.sha256) == 64, info.name
    with pytest.raises(ValueError, match="https"):
        _info(url="http://example.com/x.pkl")
    with pytest.raises(ValueError, match="64 lowercase hex"):
        _info(sha256="abc")


def test_failed_download_leaves_nothing(tmp_path):
    dest = tmp_path / "model.pkl"
    with pytest.raises(MissingWeightsError, match="could not download"):
        download_file((tmp_path / "absent.bin").as_uri(), dest, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_registry_download_through_a_local_url(tmp_path, monkeypatch, tiny_checkpoint):
    # Point a registry entry at a file:// URL: the whole resolve -> download -> load path runs offline.
    info = _info(
        name="tiny-test", filename="tiny.pt", url=tiny_checkpoint.as_uri(), sha256=_sha256(tiny_checkpoint.read_bytes())
    )
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
    info = _info(
        name="packaged-test",
        filename="tiny.pt",
        url=None,
        domain="face",
        face_preset="ffhq",
        packaged=tiny_checkpoint.name,
    )
    monkeypatch.setitem(REGISTRY, "packaged-test", info)
    resolved = resolve_checkpoint("packaged-test", tmp_path / "empty", allow_download=False)
    assert resolved.path == tiny_checkpoint and not resolved.downloaded
    monkeypatch.setattr(registry, "PACKAGES_ROOT", tmp_path / "elsewhere")
    with pytest.raises(MissingWeightsError, match="should ship with the package"):
        resolve_checkpoint("packaged-test", tmp_path / "empty")


def test_registry_download_with_a_wrong_hash_fails_and_leaves_the_folder_empty(tmp_path, monkeypatch, tiny_checkpoint):
    info = _info(name="tiny-bad", filename="tiny.pt", url=tiny_checkpoint.as_uri(), sha256="f" * 64)
    monkeypatch.setitem(REGISTRY, "tiny-bad", info)
    folder = tmp_path / "checkpoints"
    with pytest.raises(MissingWeightsError, match="wrong SHA-256"):
        resolve_checkpoint("tiny-bad", folder, progress=False)
    assert list(folder.iterdir()) == []


def test_default_is_the_packaged_face_model_and_needs_no_network(tmp_path, monkeypatch):
    monkeypatch.setenv("DRAGGAN_OFFLINE", "1")
    resolved = resolve_checkpoint(DEFAULT_CHECKPOINT, tmp_path / "empty", allow_download=False)
    assert DEFAULT_CHECKPOINT == "face-64" and resolved.path == PACKAGES_ROOT / "stylegan" / "data" / "face64-fp16.pt"
    G = load_checkpoint(resolved)
    # The file itself records the framing it was trained with, so it is aligned right by path too.
    assert (G.img_resolution, G.metadata["face_preset"], resolved.info.face_preset) == (64, "utkface", "utkface")
    assert resolved.info.domain == "face"
