"""A project's versions as a git repository, served read-only over git's smart HTTP protocol.

The repository is built in memory from the stored versions on each request (nothing is kept on
disk, so nothing outlives a deleted project). Commits are deterministic — same files, authors,
times and messages give the same ids — so the two requests of a clone (the refs, then the pack)
see the same history.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dulwich.objects import Blob, Commit, ObjectID, Tree
from dulwich.protocol import ReceivableProtocol
from dulwich.refs import Ref
from dulwich.repo import MemoryRepo
from dulwich.server import DictBackend, UploadPackHandler

from qai.versions.repository import VersionFiles

BRANCH = Ref(b"refs/heads/main")
HEAD = Ref(b"HEAD")
QAI_AUTHOR = "QAI <qai@localhost>"
SERVICE = "git-upload-pack"
FILE_MODE = 0o100644
DIR_MODE = 0o040000


@dataclass(frozen=True)
class CommitSpec:
    files: Mapping[str, str]
    author: str
    message: str
    at: datetime


def commit_message(version: VersionFiles) -> str:
    row = version.row
    headline = row.prompt if row.origin == "agent" and row.prompt else row.reply
    headline = " ".join(headline.split()) or row.title
    body = f"v{row.number}: {row.title} ({row.origin})"
    return f"{headline[:200]}\n\n{body}\n"


def commit_specs(versions: list[VersionFiles]) -> list[CommitSpec]:
    return [
        CommitSpec(
            files=version.files(),
            author=version.row.author or QAI_AUTHOR,
            message=commit_message(version),
            at=version.row.created_at,
        )
        for version in versions
    ]


def _tree(repo: MemoryRepo, files: Mapping[str, str]) -> ObjectID:
    store = repo.object_store
    nested: dict[str, Any] = {}
    for path, content in files.items():
        *folders, name = path.split("/")
        level = nested
        for folder in folders:
            level = level.setdefault(folder, {})
            if not isinstance(level, dict):
                break  # a file and a folder of the same name: the file wins
        else:
            level[name] = content

    def write(level: dict[str, Any]) -> ObjectID:
        tree = Tree()
        for name, value in level.items():
            if isinstance(value, dict):
                tree.add(name.encode(), DIR_MODE, write(value))
            else:
                blob = Blob.from_string(value.encode())
                store.add_object(blob)
                tree.add(name.encode(), FILE_MODE, blob.id)
        store.add_object(tree)
        return tree.id

    return write(nested)


def build_repository(commits: list[CommitSpec]) -> MemoryRepo:
    """One commit per version on ``main``, oldest first."""
    repo = MemoryRepo()
    parent: ObjectID | None = None
    for spec in commits:
        commit = Commit()
        commit.tree = _tree(repo, spec.files)
        commit.parents = [parent] if parent is not None else []
        commit.author = commit.committer = spec.author.encode()
        stamp = int(spec.at.replace(tzinfo=UTC).timestamp())
        commit.author_time = commit.commit_time = stamp
        commit.author_timezone = commit.commit_timezone = 0
        commit.encoding = b"UTF-8"
        commit.message = spec.message.encode()
        repo.object_store.add_object(commit)
        parent = commit.id
    if parent is not None:
        repo.refs[BRANCH] = parent
        repo.refs.set_symbolic_ref(HEAD, BRANCH)
    return repo


def _handler(repo: MemoryRepo, proto: ReceivableProtocol, *, advertise: bool) -> UploadPackHandler:
    return UploadPackHandler(
        DictBackend({b"/": repo}),  # type: ignore[arg-type]  # MemoryRepo is a BackendRepo
        [b"/"],  # type: ignore[list-item]
        proto,
        stateless_rpc=True,
        advertise_refs=advertise,
    )


def advertisement(repo: MemoryRepo) -> bytes:
    """The answer to ``GET info/refs?service=git-upload-pack``."""
    out = io.BytesIO()
    proto = ReceivableProtocol(io.BytesIO().read, out.write)
    handler = _handler(repo, proto, advertise=True)
    proto.write_pkt_line(f"# service={SERVICE}\n".encode())
    proto.write_pkt_line(None)
    handler.handle()
    return out.getvalue()


def upload_pack(repo: MemoryRepo, body: bytes, *, gzipped: bool = False) -> bytes:
    """The answer to ``POST git-upload-pack``: the pack of what the client wants."""
    data = gzip.decompress(body) if gzipped else body
    out = io.BytesIO()
    proto = ReceivableProtocol(io.BytesIO(data).read, out.write)
    _handler(repo, proto, advertise=False).handle()
    return out.getvalue()
