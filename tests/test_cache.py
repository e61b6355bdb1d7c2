"""The one cache: key = inputs + code + versions, atomic write, stale entries removed, one location rule."""

from __future__ import annotations

import pytest

from dexmood import cache, paths


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))
    return tmp_path


def test_computes_once_then_reads(cache_dir):
    calls = []

    def compute():
        calls.append(1)
        return {"value": 42}

    for _ in range(2):
        assert cache.load_or_compute("thing", {"a": 1}, compute, modules=("dexmood.cache",)) == {"value": 42}
    assert len(calls) == 1
    cache.load_or_compute("thing", {"a": 2}, compute, modules=("dexmood.cache",))
    assert len(calls) == 2  # other inputs, other entry
    assert len(list(cache_dir.glob("thing_*.pkl"))) == 2


def test_other_code_replaces_stale_entries(cache_dir, monkeypatch):
    cache.load_or_compute("thing", {"a": 1}, lambda: 1, modules=("dexmood.cache",))
    monkeypatch.setattr(cache, "code_key", lambda modules: "0" * 16)
    cache.load_or_compute("thing", {"a": 1}, lambda: 2, modules=("dexmood.cache",))
    entries = list(cache_dir.glob("thing_*.pkl"))
    assert len(entries) == 1 and entries[0].stem.endswith("0" * 16)


def test_failed_write_leaves_no_partial_file(cache_dir):
    def broken_save(obj, path):
        path.write_bytes(b"half")
        raise OSError("disk full")

    codec = cache.Codec(".bin", broken_save, lambda p: p.read_bytes())
    with pytest.raises(OSError):
        cache.load_or_compute("broken", {}, lambda: 1, modules=("dexmood.cache",), codec=codec)
    assert not list(cache_dir.iterdir())


def test_location_rule(tmp_path, monkeypatch):
    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    monkeypatch.delenv(paths.COHORT_ENV, raising=False)
    assert cache.root() == paths.DERIVED
    monkeypatch.setenv(paths.COHORT_ENV, str(tmp_path / "mine.csv"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.PROJECT_ROOT not in cache.root().parents  # a user's cohort never caches into the tree
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "explicit"))
    assert cache.root() == tmp_path / "explicit"


def test_key_includes_package_versions(monkeypatch):
    before = cache.code_key(("dexmood.cache",))
    monkeypatch.setattr(cache, "NUMERICAL_PACKAGES", ("numpy", "not-installed-package"))
    assert cache.code_key(("dexmood.cache",)) != before
