"""molsym.files: atomic writes (temp file beside the target, then os.replace)."""
from __future__ import annotations

import os
import stat

import pytest

from molsym.files import atomic_path, atomic_write_bytes, atomic_write_text


@pytest.fixture
def umask():
    """Set the process umask for one test; the old one comes back afterwards."""
    old = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(old)


def test_target_appears_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("new")
        assert not target.exists()
        assert tmp.parent == tmp_path and tmp.exists()
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_replaces_an_existing_file_and_makes_the_folder(tmp_path):
    target = tmp_path / "a" / "b" / "out.bin"
    assert atomic_write_bytes(target, b"one") == target
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(target.parent) == ["out.bin"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failure_keeps_the_old_file_and_leaves_no_temp(tmp_path, error):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(error):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise error("boom")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_failure_without_an_old_file_leaves_nothing(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(ValueError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise ValueError("boom")
    assert os.listdir(tmp_path) == []


def test_failure_after_the_writer_removed_the_temp_is_still_clean(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(OSError):
        with atomic_path(target) as tmp:
            tmp.unlink()
            raise OSError("writer cleaned up itself")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_permissions_follow_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    target = atomic_write_text(tmp_path / "out.json", "{}")
    assert stat.S_IMODE(target.stat().st_mode) == mode


def test_umask_is_left_as_it_was(tmp_path, umask):
    umask(0o027)
    atomic_write_text(tmp_path / "out.txt", "x")
    assert os.umask(0o027) == 0o027


@pytest.mark.parametrize("suffix", [".png", ".extxyz", ".part", ""])
def test_suffix_is_honoured(tmp_path, suffix):
    target = tmp_path / "figure.png"
    with atomic_path(target, suffix=suffix) as tmp:
        assert tmp.name.startswith(".figure.png.")
        assert tmp.name.endswith(suffix)
        assert tmp != target
        tmp.write_bytes(b"x")
    assert target.read_bytes() == b"x"


def test_default_suffix_is_tmp(tmp_path):
    with atomic_path(tmp_path / "model.pt") as tmp:
        assert tmp.suffix == ".tmp"


def test_text_encoding(tmp_path):
    target = atomic_write_text(tmp_path / "units.txt", "Å eV/Å")
    assert target.read_bytes() == "Å eV/Å".encode("utf-8")
    atomic_write_text(target, "Å", encoding="latin-1")
    assert target.read_bytes() == b"\xc5"


def test_accepts_str_paths(tmp_path):
    target = atomic_write_text(str(tmp_path / "out.txt"), "x")
    assert target == tmp_path / "out.txt" and target.read_text() == "x"


def test_splits_reexports_the_helper():
    from molsym import files
    from molsym.data import splits

    assert splits.atomic_write_text is files.atomic_write_text
