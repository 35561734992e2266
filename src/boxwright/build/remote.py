"""Build contexts that are not a local directory: a git repository, an http(s) URL, or ``-``.

Each is fetched into a private directory (:func:`fetch_context`) that the caller removes
after the build; docker's and podman's forms, with BuildKit's rules:

* **git** (:func:`~boxwright.build.contextnames.parse_git`): ``git://…``, ``ssh://…``,
  ``git@HOST:PATH``, an http(s) URL whose path ends in ``.git``, and ``github.com/USER/REPO``
  (as https). The fragment is ``#REF:SUBDIR``: REF a branch, tag, full ref or commit (the
  remote's HEAD when empty), SUBDIR the directory of the repository that is the context (the
  root when empty). The ``git`` program fetches the one commit shallowly (``--depth=1``; a
  commit a server will not hand out by itself is fetched with the history), checks it out with
  its submodules (shallow, recursive), and the ``.git`` entries are removed, as BuildKit does
  by default. git runs with no terminal prompt, no hook templates, and only the http, https,
  git and ssh protocols allowed (a submodule cannot reach a local path or ``ext::`` command);
  the user's own git configuration (credentials, ``insteadOf``, ssh keys) applies.
* **http(s) URL**: downloaded (:func:`boxwright.build.files.download`); a tar archive, plain or
  compressed (gzip, zstd, xz, bzip2, told by content), is the context
  (:mod:`boxwright.build.contexttar`); any other body is a lone Containerfile (UTF-8 text)
  with an empty context, as docker and podman take a URL.
* ``-``: standard input, a tar archive (the context) or a lone Containerfile, the same way.

Every fetch is bounded by ``limit`` bytes: a download or standard input as it arrives (and by
its ``Content-Length``), an archive's uncompressed stream, a git fetch (every file git writes,
its pack included, through ``RLIMIT_FSIZE``; the commit's tree by the sizes git lists before
anything is checked out; the whole checkout, submodules included, after it).
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from boxwright.build.contextnames import GitSource, parse_git
from boxwright.build.contexttar import is_archive, unpack_context
from boxwright.build.files import download
from boxwright.errors import BuildContextError, TransportError, UsageError
from boxwright.layer.pathsafe import clean_entry_name

MAX_CONTAINERFILE = 4 << 20
"""The largest lone Containerfile a URL or standard input may hold (4 MiB)."""
_PIECE = 1 << 20
_GIT_PROTOCOLS = ("http", "https", "git", "ssh")
_COMMIT = re.compile(r"[0-9a-f]{7,64}")


@dataclass(frozen=True)
class Fetched:
    """A fetched context: its directory and, for a lone Containerfile, that file's text."""

    directory: Path
    containerfile_text: str | None = None


def fetch_context(text: str, work: Path, limit: int, stdin: IO[bytes] | None = None) -> Fetched:
    """Fetch the context ``text`` (a git URL, an http(s) URL, or ``-`` for ``stdin``) into
    the empty private directory ``work`` (module docstring)."""
    git = parse_git(text) if text != "-" else None
    if git is not None:
        return Fetched(clone(git, work / "git", limit))
    if text == "-":
        if stdin is None:
            raise UsageError("the build context '-' reads standard input, and there is none")
        return _from_file(_spool(stdin, work, limit), work / "context", limit, "standard input")
    shown = _shown(text)
    try:
        path, _, _ = download(text, work, limit=limit)
    except TransportError as error:
        if shown == text:
            raise
        raise TransportError(_redacted(str(error), text)) from None
    return _from_file(path, work / "context", limit, shown)


def _spool(stdin: IO[bytes], work: Path, limit: int) -> Path:
    """Standard input into a file under ``work``, at most ``limit`` bytes."""
    path = work / "stdin"
    total = 0
    with open(path, "xb") as out:
        while piece := stdin.read(_PIECE):
            total += len(piece)
            if total > limit:
                raise BuildContextError(
                    f"standard input: the context is larger than the limit of {limit} bytes"
                )
            out.write(piece)
    return path


def _from_file(path: Path, directory: Path, limit: int, what: str) -> Fetched:
    """A downloaded body or standard input: a tar archive is unpacked into ``directory``;
    anything else is a lone Containerfile with ``directory`` left empty."""
    directory.mkdir(mode=0o700)
    try:
        if is_archive(path):
            unpack_context(path, directory, limit, what)
            return Fetched(directory)
        if path.stat().st_size > MAX_CONTAINERFILE:
            raise BuildContextError(
                f"{what} is not a tar archive, and too large for a Containerfile "
                f"({path.stat().st_size} bytes, at most {MAX_CONTAINERFILE})"
            )
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise BuildContextError(
                f"{what} is neither a tar archive nor a Containerfile (not UTF-8 text)"
            ) from None
        return Fetched(directory, text)
    finally:
        path.unlink(missing_ok=True)


# -- git -------------------------------------------------------------------------------------


def _shown(url: str) -> str:
    """``url`` for a message: a password in it is never shown."""
    return _redacted(url, url)


def _redacted(text: str, url: str) -> str:
    """``text`` (a message about ``url``) without the password ``url`` holds."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    return text.replace(password, "***") if password else text


def clone(source: GitSource, directory: Path, limit: int) -> Path:
    """Check out ``source`` into ``directory`` (module docstring); return the context
    directory (``directory`` or its subdirectory)."""
    if shutil.which("git") is None:
        raise BuildContextError(
            f"{_shown(source.url)}: a git context needs the git program, which is not installed"
        )
    git = _Git(directory, source.url, limit)
    directory.mkdir(mode=0o700)
    git.run("init", "-q", "--template=", ".")
    git.run("remote", "add", "origin", source.url)
    ref = source.ref or "HEAD"
    try:
        git.run("fetch", "-q", "--depth=1", "--no-tags", "--no-recurse-submodules", "origin", ref)
        commit = "FETCH_HEAD"
    except BuildContextError:
        if not _COMMIT.fullmatch(ref):
            raise
        # a commit the server does not hand out by itself: fetch the history, then find it
        git.run("fetch", "-q", "--no-tags", "--no-recurse-submodules", "origin")
        commit = git.run("rev-parse", "--verify", "-q", f"{ref}^{{commit}}").strip()
    git.check_tree(commit)
    git.run("-c", "advice.detachedHead=false", "checkout", "-q", "--detach", commit)
    if (directory / ".gitmodules").is_file():
        git.run("submodule", "-q", "update", "--init", "--recursive", "--depth=1")
    _remove_git_entries(directory)
    _check_total(directory, limit, _shown(source.url))
    return _subdir(directory, source)


class _Git:
    """Runs ``git`` in one repository directory, each program bounded to ``limit`` bytes per
    file it writes; a failure is one :class:`BuildContextError` line."""

    def __init__(self, directory: Path, url: str, limit: int) -> None:
        self.directory = directory
        self.url = url
        self.limit = limit

    def run(self, *args: str) -> str:
        """Run ``git ARGS``; return its standard output."""
        config: list[str] = ["-c", "protocol.allow=never", "-c", "core.fsmonitor=false"]
        for name in _GIT_PROTOCOLS:
            config += ["-c", f"protocol.{name}.allow=always"]
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_PROTOCOL_FROM_USER": "0"}
        limit = self.limit

        def bound() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        done = subprocess.run(
            ["git", *config, *args],
            cwd=self.directory,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            preexec_fn=bound,
            check=False,
        )
        if done.returncode == 0:
            return done.stdout.decode("utf-8", "replace")
        what = f"git {args[0]} of {_shown(self.url)}"
        if done.returncode == -signal.SIGXFSZ:
            raise BuildContextError(f"{what}: more than the limit of {self.limit} bytes")
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        cause = lines[-1].strip() if lines else f"exit status {done.returncode}"
        cause = _redacted(cause, self.url)
        raise BuildContextError(f"{what} failed: {cause}")

    def check_tree(self, commit: str) -> None:
        """Refuse a commit whose files (and entries) add up to more than the limit, before
        any is written."""
        listing = self.run("ls-tree", "-r", "-l", "-z", commit)
        total = 0
        for line in listing.split("\0"):
            if not line:
                continue
            fields = line.split("\t", 1)[0].split()
            size = fields[3] if len(fields) == 4 else "-"
            total += 512 + (int(size) if size.isdigit() else 0)
        if total > self.limit:
            raise BuildContextError(
                f"{_shown(self.url)}: the commit's files are larger than the limit of "
                f"{self.limit} bytes"
            )


def _remove_git_entries(directory: Path) -> None:
    """Remove git's own ``.git`` entries (the repository's, and each submodule's link): a
    commit cannot hold a path named ``.git``, so every one is git's."""
    for dirpath, dirnames, filenames in os.walk(directory):
        if ".git" in dirnames:
            dirnames.remove(".git")
            shutil.rmtree(os.path.join(dirpath, ".git"))
        if ".git" in filenames:
            os.unlink(os.path.join(dirpath, ".git"))


def _check_total(directory: Path, limit: int, what: str) -> None:
    """Refuse a checkout (submodules included) larger than ``limit`` bytes."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in (*dirnames, *filenames):
            total += 512 + os.lstat(os.path.join(dirpath, name)).st_size
        if total > limit:
            raise BuildContextError(
                f"{what}: the checkout is larger than the limit of {limit} bytes"
            )


def _subdir(directory: Path, source: GitSource) -> Path:
    """The fragment's subdirectory of the checkout: a directory inside it (links resolved
    inside the checkout, never out of it)."""
    if not source.subdir:
        return directory
    rel = clean_entry_name(source.subdir, allow_root=True)
    real = Path(os.path.realpath(directory / rel)) if rel else directory
    root = os.path.realpath(directory)
    inside = str(real) == root or str(real).startswith(root + os.sep)
    if not inside or not real.is_dir() or ".." in Path(source.subdir).parts:
        raise BuildContextError(
            f"{_shown(source.url)}: {source.subdir!r} is not a directory of the repository"
        )
    return real


__all__ = [
    "MAX_CONTAINERFILE",
    "Fetched",
    "clone",
    "fetch_context",
]
