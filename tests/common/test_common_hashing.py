"""File and generator hashes (common/hashing.py): the file hash with and without its memo."""

from __future__ import annotations

import hashlib
import json
import os

from common.hashing import file_sha256


def test_file_sha256_is_the_sha256_of_the_bytes(tmp_path):
    f = tmp_path / "w.bin"
    data = bytes(range(256)) * 50_000  # several read chunks
    f.write_bytes(data)
    assert file_sha256(f) == hashlib.sha256(data).hexdigest()
    assert file_sha256(str(f), tmp_path / "memo.json") == hashlib.sha256(data).hexdigest()


def test_the_memo_is_used_while_size_and_mtime_match_and_renewed_after(tmp_path):
    f, memo = tmp_path / "w.bin", tmp_path / "cache" / "memo.json"
    f.write_bytes(b"weights")
    first = file_sha256(f, memo)
    (stamp,) = json.loads(memo.read_text())
    assert stamp.startswith(f"{f.resolve()}|")
    memo.write_text(json.dumps({stamp: "memoised"}))  # a stat, not a read, answers the next call
    assert file_sha256(f, memo) == "memoised"
    assert file_sha256(f) == first  # without a memo the file is read
    f.write_bytes(b"other weights")
    os.utime(f, ns=(1, 1))
    assert file_sha256(f, memo) == hashlib.sha256(b"other weights").hexdigest()
    assert list(json.loads(memo.read_text()).values()) == [hashlib.sha256(b"other weights").hexdigest()]


def test_a_corrupt_or_unwritable_memo_only_costs_a_read(tmp_path):
    f = tmp_path / "w.bin"
    f.write_bytes(b"x")
    for content in ("not json", "[1, 2]"):
        memo = tmp_path / "memo.json"
        memo.write_text(content)
        assert file_sha256(f, memo) == hashlib.sha256(b"x").hexdigest()
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert file_sha256(f, blocked / "memo.json") == hashlib.sha256(b"x").hexdigest()  # parent is a file
