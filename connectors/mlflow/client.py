"""HTTP to one MLflow server: pooled clients, credentials in the Authorization header, errors as clear messages."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import httpx

from connectors.mlflow.settings import Credentials, MlflowSettings
from connectors.pool import Pool
from core.canonical import canonical_json
from core.errors import ConnectorError, NotFound
from core.hashing import sha256_chunks

API = "/api/2.0/mlflow"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"
WORKSPACE_HEADER = "X-MLFLOW-WORKSPACE"


def auth_of(creds: Credentials) -> httpx.Auth | None:
    """The httpx authentication of ``creds``: a bearer token, else basic auth, else none."""
    if creds.token:
        return _Bearer(creds.token)
    if creds.username:
        return httpx.BasicAuth(creds.username, creds.password or "")
    return None


class _Bearer(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers["Authorization"] = self._header
        yield request



class _Meter:
    def __init__(self) -> None:
        self.calls = 0
        self.throttled = 0
        self.lock = threading.Lock()


_CLIENTS: Pool[tuple[httpx.Client, _Meter]] = Pool(close=lambda pair: pair[0].close())


def _shared_client(base: str, creds: Credentials, *, verify: bool, timeout: float, pool: int) -> tuple[httpx.Client, _Meter]:
    """One pooled client per server, credentials and TLS setting in this process (a re-sync reuses connections)."""
    return _CLIENTS.get(canonical_json([base, creds.digest(), verify, timeout, pool]), lambda: (
        httpx.Client(base_url=base, auth=auth_of(creds), verify=verify, timeout=timeout,
                     limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
                     headers={"User-Agent": "countersign"}, follow_redirects=False),
        _Meter()))


def forget_clients() -> None:
    """Close every pooled client (tests that restart servers; a process that wants fresh connections)."""
    _CLIENTS.clear()


class Api:
    """Calls to one MLflow server with errors turned into clear :class:`ConnectorError` messages."""

    RETRY_STATUS = frozenset({429, 502, 503, 504})

    def __init__(self, account: str, base: str, creds: Credentials, settings: MlflowSettings) -> None:
        self.account = account
        self.base = base
        self.creds = creds
        self.settings = settings
        # a workspace of a server with workspaces on (MLflow 3.10+): every call names it, artifacts included
        self.headers = {WORKSPACE_HEADER: settings.workspace} if settings.workspace else {}
        self.client, self.meter = _shared_client(base, creds, verify=not settings.insecure_tls,
                                                 timeout=settings.timeout_seconds, pool=settings.max_concurrency * 2)

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None,
                content: bytes | Iterable[bytes] | None = None, stream_to: Path | None = None,
                hashed: bool = False, missing_ok: bool = False, read_only: bool = False) -> Any:
        """One call (a few attempts on 429/5xx gateways); JSON answer, or None when ``missing_ok`` and 404.

        ``stream_to`` / ``hashed``: the body streams through sha256 (into the file ``stream_to`` when given), never
        held whole; the answer is ``{"sha256", "size"}``. A HEAD answers the response headers.

        ``read_only`` (searches): a 500 is tried again too. An MLflow server on a CPython without the fix of
        gh-106905 (3.11.7 here) answers concurrent searches now and then with "INTERNAL_ERROR: AST constructor
        recursion depth mismatch" (``ast`` used from several threads at once); a read can be repeated, a write not."""
        retry = self.RETRY_STATUS | {500} if read_only else self.RETRY_STATUS
        for attempt in range(3):
            with self.meter.lock:
                self.meter.calls += 1
            try:
                if stream_to is not None or hashed:
                    with self.client.stream(method, path, params=params, headers=self.headers) as resp:
                        if resp.status_code == 200:
                            with contextlib.ExitStack() as files:
                                fh = files.enter_context(open(stream_to, "wb")) if stream_to is not None else None
                                digest, size = sha256_chunks(resp.iter_bytes(1 << 20), copy_to=fh)
                            return {"sha256": digest, "size": size}
                        resp.read()
                else:
                    resp = self.client.request(method, path, params=params, json=body, content=content,
                                               headers=self.headers)
            except httpx.TransportError as exc:
                raise ConnectorError(
                    f"account {self.account!r}: cannot reach the MLflow server at {self.base} "
                    f"({type(exc).__name__}: {exc or 'no answer'}); is it running, and is the URL right?") from None
            if resp.status_code in retry and attempt < 2:
                if resp.status_code in (429, 503):
                    with self.meter.lock:
                        self.meter.throttled += 1
                time.sleep(0.2 * 3**attempt)
                continue
            break
        if resp.status_code == 200:
            if method == "HEAD":
                return dict(resp.headers)
            return resp.json() if resp.content else {}
        error = error_of(resp)
        if resp.status_code == 404 and missing_ok:
            return None
        if resp.status_code == 401:
            how = (f"the credentials from {self.creds.source}" if self.creds.source
                   else f"no credentials (none of {self.settings.token_env}, {self.settings.username_env}/"
                        f"{self.settings.password_env} is set)")
            raise ConnectorError(
                f"account {self.account!r}: the MLflow server at {self.base} refused {how} (HTTP 401 "
                f"unauthenticated). Set {self.settings.token_env}, or {self.settings.username_env} and "
                f"{self.settings.password_env}, in the environment of the process running Countersign, or name "
                "other variables with token_env / username_env / password_env")
        if resp.status_code == 403:
            raise ConnectorError(f"account {self.account!r}: the MLflow user from {self.creds.source or 'no credentials'}"
                                 f" may not {method} {path} on {self.base} (HTTP 403 {error}): grant it "
                                 "READ on the models (MANAGE to promote)")
        if resp.status_code == 404 or "RESOURCE_DOES_NOT_EXIST" in error:
            raise NotFound(f"account {self.account!r}: {path} on {self.base}: {error}")
        raise ConnectorError(f"account {self.account!r}: {method} {path} on {self.base} failed "
                             f"(HTTP {resp.status_code}): {error}")

    def get(self, endpoint: str, **params: Any) -> Any:
        return self.request("GET", f"{API}/{endpoint}", params=params)

    def post(self, endpoint: str, body: dict[str, Any]) -> Any:
        return self.request("POST", f"{API}/{endpoint}", body=body)

    def search(self, endpoint: str, query: dict[str, Any], method: str = "GET") -> Any:
        """One page of a search (a read: tried again on HTTP 500 too)."""
        return self.request(method, f"{API}/{endpoint}", read_only=True,
                            **({"body": query} if method == "POST" else {"params": query}))

    def pages(self, endpoint: str, key: str, params: dict[str, Any], *, method: str = "GET",
              first_page: int | None = None, first: Future[Any] | None = None) -> Iterator[list[dict]]:
        """The pages of a search (``page_token`` until none is returned); ``first_page`` makes the first one smaller.

        ``first``: the answer to the first call, asked for already (:meth:`MlflowConnector.prefetch`)."""
        token = None
        while True:
            query = {**params, **({"page_token": token} if token else {})}
            if first_page and not token:
                query["max_results"] = first_page
            data = first.result() if first is not None and not token else self.search(endpoint, query, method)
            yield data.get(key) or []
            token = data.get("next_page_token")
            if not token:
                return


def error_of(resp: httpx.Response) -> str:
    """The error code and message of an MLflow error answer, or the start of its text."""
    try:
        data = resp.json()
        return f"{data.get('error_code', '')}: {data.get('message', '')}".strip(": ")
    except ValueError:
        return resp.text[:300].strip() or resp.reason_phrase



def download_plain(url: str, fh: Any, *, verify: bool, timeout: float) -> None:
    """Stream ``url`` into ``fh`` with a client of its own: no credentials of any account go to another host."""
    try:
        with httpx.Client(timeout=timeout, verify=verify, follow_redirects=True, max_redirects=3,
                          headers={"User-Agent": "countersign"}) as client, client.stream("GET", url) as resp:
            if resp.status_code == 404:
                raise NotFound(f"{url}: no such file (HTTP 404)")
            if resp.status_code != 200:
                raise ConnectorError(f"{url}: HTTP {resp.status_code} {resp.reason_phrase}")
            for chunk in resp.iter_bytes(1 << 20):
                fh.write(chunk)
    except httpx.HTTPError as exc:
        raise ConnectorError(f"cannot download {url} ({type(exc).__name__}: {exc})") from None
