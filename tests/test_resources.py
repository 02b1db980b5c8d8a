"""The resource layer: catalog, verified fetch, cache, and its failure modes.

Fault tests fetch a tiny real package (six, 11 kB) into a temporary cache, so
they exercise the same pip/npm code path as the real resources.
"""

import dataclasses
import os
import time
from pathlib import Path

import pytest

from tlbook import resources as R
from tlbook.cli import main as cli_main

SIX = R.Resource(
    name="tiny-six",
    source="pypi-wheel",
    spec="six==1.16.0",
    archive="six-1.16.0-py2.py3-none-any.whl",
    sha256="8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254",
    key_file="six.py",
    key_sha256="",
    size_mb=1,
    description="test package",
)


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("TLBOOK_CACHE", str(cache))
    monkeypatch.delenv("TLBOOK_DOWNLOADS", raising=False)
    return cache


def add(monkeypatch, res):
    monkeypatch.setitem(R.CATALOG, res.name, res)
    return res


def leftovers(cache: Path, name: str):
    return sorted(p.name for p in cache.glob(f"*{name}*")) if cache.exists() else []


def test_catalog_covers_every_resource_in_resources_md():
    assert set(R.CATALOG) == {"encoder-minilm", "causal-lm-smollm2", "glove-6b-50d", "brown",
                              "movie-sentiment", "spam", "word-benchmarks"}
    for res in R.CATALOG.values():
        if res.source != "installed":
            assert len(res.sha256) == 64 and len(res.key_sha256) == 64, res.name


def test_unknown_name_lists_known_names():
    with pytest.raises(R.UnknownResourceError) as e:
        R.get_resource("bert-tiny")
    msg = str(e.value)
    assert "'bert-tiny'" in msg and "encoder-minilm" in msg and "brown" in msg


def test_fetch_verifies_and_caches(tmp_cache, monkeypatch):
    add(monkeypatch, SIX)
    path = R.fetch("tiny-six")
    assert (path / "six.py").is_file()
    assert (path / R.COMPLETE_MARKER).read_text().strip() == SIX.sha256
    stamp = (path / "six.py").stat().st_mtime_ns
    assert R.fetch("tiny-six") == path  # second call: from the cache, not re-downloaded
    assert (path / "six.py").stat().st_mtime_ns == stamp
    assert leftovers(tmp_cache, ".tmp-") == []


def test_checksum_mismatch_refetched_once_then_clear_error(tmp_cache, monkeypatch):
    add(monkeypatch, dataclasses.replace(SIX, sha256="0" * 64))
    with pytest.raises(R.ChecksumError) as e:
        R.fetch("tiny-six")
    assert "failed verification twice" in str(e.value)
    assert "tlbook fetch" in str(e.value)
    # nothing was unpacked under the resource's name, no temporary folder remains
    assert leftovers(tmp_cache, "tiny-six") == []


def test_truncated_local_archive_is_discarded_and_refetched(tmp_cache, tmp_path, monkeypatch):
    add(monkeypatch, SIX)
    good = R.fetch("tiny-six")
    whole = (good / "six.py").read_bytes()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    # a truncated copy of the real wheel, as an interrupted manual copy leaves it
    wheel_bytes = _download_bytes(SIX, tmp_path)
    (downloads / SIX.archive).write_bytes(wheel_bytes[: len(wheel_bytes) // 2])
    monkeypatch.setenv("TLBOOK_DOWNLOADS", str(downloads))
    path = R.fetch("tiny-six", force=True)
    assert not (downloads / SIX.archive).exists()  # the bad copy was discarded
    assert (path / "six.py").read_bytes() == whole  # and a good one fetched


def _download_bytes(res, tmp_path):
    dest = tmp_path / "dl"
    dest.mkdir(exist_ok=True)
    return R._download(res, dest).read_bytes()


def test_intact_local_archive_is_used(tmp_cache, tmp_path, monkeypatch):
    add(monkeypatch, SIX)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / SIX.archive).write_bytes(_download_bytes(SIX, tmp_path))
    monkeypatch.setenv("TLBOOK_DOWNLOADS", str(downloads))
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # no registry at all
    assert (R.fetch("tiny-six") / "six.py").is_file()


def test_offline_with_nothing_cached_says_what_to_run(tmp_cache, monkeypatch):
    add(monkeypatch, SIX)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    with pytest.raises(R.FetchError) as e:
        R.fetch("tiny-six")
    msg = str(e.value)
    assert "not in the cache" in msg and "tlbook fetch tiny-six" in msg
    assert leftovers(tmp_cache, "tiny-six") == []


def test_npm_missing_names_what_to_install(tmp_cache, tmp_path, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(R.ToolMissingError) as e:
        R.fetch("brown", force=True)
    assert "npm" in str(e.value) and "Node.js" in str(e.value)


def test_npm_resource_fetches(tmp_cache, monkeypatch):
    tiny = R.Resource(name="tiny-npm", source="npm", spec="is-number@7.0.0",
                      archive="is-number-7.0.0.tgz",
                      sha256="7b75c1057198cf97696909a9bee176c9c5e9bcb5b03bf3ecef2f484defadd51e",
                      key_file="package/index.js", key_sha256="", size_mb=1, description="t")
    add(monkeypatch, tiny)
    path = R.fetch("tiny-npm")
    assert (path / "package" / "index.js").is_file()


def test_disk_full_is_refused_before_downloading(tmp_cache, monkeypatch):
    add(monkeypatch, dataclasses.replace(SIX, size_mb=10**12))
    with pytest.raises(R.DiskFullError) as e:
        R.fetch("tiny-six")
    assert "TLBOOK_CACHE" in str(e.value)
    assert leftovers(tmp_cache, "tiny-six") == []


def test_interrupted_fetch_leaves_nothing_usable_and_is_cleaned(tmp_cache, monkeypatch):
    add(monkeypatch, SIX)
    tmp_cache.mkdir(parents=True)
    # what a killed fetch leaves: a temporary folder, never the final name
    stale = tmp_cache / ".tmp-tiny-six-abc123"
    (stale / "unpacked").mkdir(parents=True)
    old = time.time() - 3600
    os.utime(stale, (old, old))
    # a folder under the final name without the completion marker is not trusted
    (tmp_cache / "tiny-six").mkdir()
    (tmp_cache / "tiny-six" / "six.py").write_text("half")
    assert R.status("tiny-six")["cached"] is False
    path = R.fetch("tiny-six")
    assert (path / "six.py").read_text() != "half"
    assert not stale.exists()


def test_cached_resources_verify(tmp_path):
    # the real catalog in the real cache (fetched by `make test` beforehand)
    for name in ("brown", "movie-sentiment", "glove-6b-50d"):
        st = R.status(name, verify=True)
        assert st["cached"] and st["checksum"] == "ok", st


def test_cli_info_and_unknown_name(capsys):
    assert cli_main(["info"]) == 0
    out = capsys.readouterr().out
    assert "encoder-minilm" in out and "cache:" in out and "profile: " in out
    assert cli_main(["fetch", "no-such-thing"]) == 1
    assert "Unknown resource 'no-such-thing'" in capsys.readouterr().err


def test_bad_name_type():
    with pytest.raises(TypeError):
        R.get_resource(3)
