"""A Python client for a running QAI server: :class:`Client` (sync) and :class:`AsyncClient`.

    from qai.client import Client
    with Client("http://127.0.0.1:8000") as qai:
        project = qai.create_project("a kanban board with drag and drop")
        for message in qai.list_messages(project.id).items:
            print(message.role, message.content)

Every error the server answers is raised as :class:`ApiError` with its code, message and
request id.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from qai.errors import CODE_BY_STATUS, QaiError
from qai.messages.schemas import FragmentOut, MessageOut, MessagePage
from qai.projects.schemas import ProjectOut, ProjectPage
from qai.versions.schemas import MessageWithVersion, VersionPage

DEFAULT_URL = "http://127.0.0.1:8000"
T = TypeVar("T")


class ApiError(QaiError):
    """An error answered by the server: ``code`` is its tRPC code, ``status`` its HTTP status."""

    def __init__(
        self, code: str, message: str, *, status: int, request_id: str | None, issues: Any = None
    ) -> None:
        super().__init__(message, issues=issues)
        self.code = code  # type: ignore[misc,assignment]
        self.http_status = status
        self.request_id = request_id

    @property
    def status(self) -> int:
        return self.http_status


class ConnectionFailed(QaiError):
    code = "SERVICE_UNAVAILABLE"


@dataclass(frozen=True)
class _Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any], T]
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None


def _parse_error(response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
        return ApiError(
            str(error["code"]),
            str(error["message"]),
            status=response.status_code,
            request_id=error.get("requestId") or response.headers.get("x-request-id"),
            issues=error.get("issues"),
        )
    except (ValueError, KeyError, TypeError):
        code = CODE_BY_STATUS.get(response.status_code, "INTERNAL_SERVER_ERROR")
        return ApiError(
            code,
            f"HTTP {response.status_code}: {response.text[:200]}",
            status=response.status_code,
            request_id=response.headers.get("x-request-id"),
        )


def _result(call: _Call[T], response: httpx.Response) -> T:
    if response.status_code >= 400:
        raise _parse_error(response)
    return call.parse(response.json() if response.content else None)


def _none(_: Any) -> None:
    return None


def _without_none(params: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None}


class _Calls:
    """What each operation sends and how its answer is read, shared by both clients."""

    @staticmethod
    def list_projects(limit: int, cursor: str | None) -> _Call[ProjectPage]:
        params = _without_none({"limit": limit, "cursor": cursor})
        return _Call("GET", "/api/projects", ProjectPage.model_validate, params)

    @staticmethod
    def create_project(value: str, template: str | None) -> _Call[ProjectOut]:
        body = _without_none({"value": value, "template": template})
        return _Call("POST", "/api/projects", ProjectOut.model_validate, json=body)

    @staticmethod
    def get_project(project_id: str) -> _Call[ProjectOut]:
        return _Call("GET", f"/api/projects/{project_id}", ProjectOut.model_validate)

    @staticmethod
    def rename_project(project_id: str, name: str) -> _Call[ProjectOut]:
        return _Call(
            "PATCH", f"/api/projects/{project_id}", ProjectOut.model_validate, json={"name": name}
        )

    @staticmethod
    def delete_project(project_id: str) -> _Call[None]:
        return _Call("DELETE", f"/api/projects/{project_id}", _none)

    @staticmethod
    def list_messages(
        project_id: str, limit: int, cursor: str | None, before: str | None, latest: bool
    ) -> _Call[MessagePage]:
        params = _without_none(
            {"limit": limit, "cursor": cursor, "before": before, "latest": latest or None}
        )
        return _Call(
            "GET", f"/api/projects/{project_id}/messages", MessagePage.model_validate, params
        )

    @staticmethod
    def send_message(project_id: str, value: str, fragment_id: str | None) -> _Call[MessageOut]:
        return _Call(
            "POST",
            f"/api/projects/{project_id}/messages",
            MessageOut.model_validate,
            json=_without_none({"value": value, "fragmentId": fragment_id}),
        )

    @staticmethod
    def get_fragment(fragment_id: str) -> _Call[FragmentOut]:
        return _Call("GET", f"/api/fragments/{fragment_id}", FragmentOut.model_validate)

    @staticmethod
    def list_versions(project_id: str, limit: int, after: int) -> _Call[VersionPage]:
        params = {"limit": limit, "after": after}
        return _Call(
            "GET", f"/api/projects/{project_id}/versions", VersionPage.model_validate, params
        )

    @staticmethod
    def restore(fragment_id: str) -> _Call[MessageWithVersion]:
        path = f"/api/fragments/{fragment_id}/restore"
        return _Call("POST", path, MessageWithVersion.model_validate)

    @staticmethod
    def edit(fragment_id: str, files: dict[str, str | None]) -> _Call[MessageWithVersion]:
        path = f"/api/fragments/{fragment_id}/edit"
        return _Call("POST", path, MessageWithVersion.model_validate, json={"files": files})

    @staticmethod
    def fork(fragment_id: str) -> _Call[ProjectOut]:
        return _Call("POST", f"/api/fragments/{fragment_id}/fork", ProjectOut.model_validate)


def _base_url(url: str | None) -> str:
    return (url or os.environ.get("QAI_URL") or DEFAULT_URL).rstrip("/")


def _auth_headers(token: str | None) -> dict[str, str]:
    """``Authorization: Bearer`` with ``token``, else ``QAI_TOKEN`` (a server with accounts)."""
    token = token or os.environ.get("QAI_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


class Client:
    """Blocking client. ``url`` defaults to ``QAI_URL``, then http://127.0.0.1:8000; ``token``
    (an API token, for a server with accounts) to ``QAI_TOKEN``."""

    def __init__(
        self, url: str | None = None, *, timeout: float = 30.0, token: str | None = None
    ) -> None:
        self.url = _base_url(url)
        self._http = httpx.Client(base_url=self.url, timeout=timeout, headers=_auth_headers(token))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: _Call[T]) -> T:
        try:
            response = self._http.request(
                call.method, call.path, params=call.params, json=call.json
            )
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"Cannot reach QAI at {self.url}: {exc}") from None
        return _result(call, response)

    def list_projects(self, limit: int = 50, cursor: str | None = None) -> ProjectPage:
        return self._send(_Calls.list_projects(limit, cursor))

    def create_project(self, value: str, template: str | None = None) -> ProjectOut:
        return self._send(_Calls.create_project(value, template))

    def get_project(self, project_id: str) -> ProjectOut:
        return self._send(_Calls.get_project(project_id))

    def rename_project(self, project_id: str, name: str) -> ProjectOut:
        return self._send(_Calls.rename_project(project_id, name))

    def delete_project(self, project_id: str) -> None:
        self._send(_Calls.delete_project(project_id))

    def list_messages(
        self,
        project_id: str,
        limit: int = 100,
        cursor: str | None = None,
        before: str | None = None,
        latest: bool = False,
    ) -> MessagePage:
        return self._send(_Calls.list_messages(project_id, limit, cursor, before, latest))

    def send_message(
        self, project_id: str, value: str, fragment_id: str | None = None
    ) -> MessageOut:
        """Send a follow-up; with ``fragment_id`` the agent builds on that version."""
        return self._send(_Calls.send_message(project_id, value, fragment_id))

    def get_fragment(self, fragment_id: str) -> FragmentOut:
        return self._send(_Calls.get_fragment(fragment_id))

    def list_versions(self, project_id: str, limit: int = 100, after: int = 0) -> VersionPage:
        return self._send(_Calls.list_versions(project_id, limit, after))

    def restore(self, fragment_id: str) -> MessageWithVersion:
        """A new version with that version's files."""
        return self._send(_Calls.restore(fragment_id))

    def edit(self, fragment_id: str, files: dict[str, str | None]) -> MessageWithVersion:
        """A new version: that version's files with ``files`` changed (None deletes one)."""
        return self._send(_Calls.edit(fragment_id, files))

    def fork(self, fragment_id: str) -> ProjectOut:
        """A new project whose first version is that version's files."""
        return self._send(_Calls.fork(fragment_id))


class AsyncClient:
    """The same operations as :class:`Client`, awaitable."""

    def __init__(
        self, url: str | None = None, *, timeout: float = 30.0, token: str | None = None
    ) -> None:
        self.url = _base_url(url)
        self._http = httpx.AsyncClient(
            base_url=self.url, timeout=timeout, headers=_auth_headers(token)
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: _Call[T]) -> T:
        try:
            response = await self._http.request(
                call.method, call.path, params=call.params, json=call.json
            )
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"Cannot reach QAI at {self.url}: {exc}") from None
        return _result(call, response)

    async def list_projects(self, limit: int = 50, cursor: str | None = None) -> ProjectPage:
        return await self._send(_Calls.list_projects(limit, cursor))

    async def create_project(self, value: str, template: str | None = None) -> ProjectOut:
        return await self._send(_Calls.create_project(value, template))

    async def get_project(self, project_id: str) -> ProjectOut:
        return await self._send(_Calls.get_project(project_id))

    async def rename_project(self, project_id: str, name: str) -> ProjectOut:
        return await self._send(_Calls.rename_project(project_id, name))

    async def delete_project(self, project_id: str) -> None:
        await self._send(_Calls.delete_project(project_id))

    async def list_messages(
        self,
        project_id: str,
        limit: int = 100,
        cursor: str | None = None,
        before: str | None = None,
        latest: bool = False,
    ) -> MessagePage:
        return await self._send(_Calls.list_messages(project_id, limit, cursor, before, latest))

    async def send_message(
        self, project_id: str, value: str, fragment_id: str | None = None
    ) -> MessageOut:
        return await self._send(_Calls.send_message(project_id, value, fragment_id))

    async def get_fragment(self, fragment_id: str) -> FragmentOut:
        return await self._send(_Calls.get_fragment(fragment_id))

    async def list_versions(self, project_id: str, limit: int = 100, after: int = 0) -> VersionPage:
        return await self._send(_Calls.list_versions(project_id, limit, after))

    async def restore(self, fragment_id: str) -> MessageWithVersion:
        return await self._send(_Calls.restore(fragment_id))

    async def edit(self, fragment_id: str, files: dict[str, str | None]) -> MessageWithVersion:
        return await self._send(_Calls.edit(fragment_id, files))

    async def fork(self, fragment_id: str) -> ProjectOut:
        return await self._send(_Calls.fork(fragment_id))


__all__ = ["ApiError", "AsyncClient", "Client", "ConnectionFailed"]
