"""HTTP to one ZenML server: a service account's API key exchanged for a token kept per (server, key) for the
process; an answer 401 logs in again once."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from connectors.pool import Pool
from core.errors import ConnectorError, NotFound

_TOKENS: dict[str, str] = {}
_PROJECTS: dict[tuple[str, str], str] = {}  # (server, project name) -> id, for the life of the process
_TOKENS_LOCK = threading.Lock()


_HTTP: Pool[httpx.Client] = Pool(close=httpx.Client.close)


def forget_tokens() -> None:
    """Drop every cached access token (the next call logs in again) and the pooled connections."""
    with _TOKENS_LOCK:
        _TOKENS.clear()
        _PROJECTS.clear()
    _HTTP.clear()


def _shared_http(url: str, verify: bool | str, timeout: float) -> httpx.Client:
    """One pooled httpx client per (server, TLS setting, timeout) for the process: a re-sync reuses its
    connections, and does not pay for a new client (~40 ms here: httpx loads the CA bundle for every client)."""
    return _HTTP.get((url, repr(verify), timeout), lambda: httpx.Client(
        base_url=url + "/api/v1", verify=verify, timeout=timeout, headers={"User-Agent": "countersign"},
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=16)))


class ZenMLClient:
    """A thin REST client of one ZenML server, logged in with a service account's API key."""

    def __init__(self, url: str, api_key: str, *, key_name: str, verify: bool | str = True,
                 timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._api_key = api_key
        self._key_name = key_name
        self._cache_key = hashlib.sha256(f"{self.url}\0{api_key}".encode()).hexdigest()
        self._http = _shared_http(self.url, verify, timeout)
        self.calls = 0
        self._count_lock = threading.Lock()

    def _count(self) -> None:
        with self._count_lock:
            self.calls += 1

    def close(self) -> None:
        """Nothing to release: the connections are pooled for the process (:func:`forget_tokens` closes them)."""

    def _login(self) -> str:
        self._count()
        try:
            r = self._http.post("/login", data={"password": self._api_key})
        except httpx.HTTPError as exc:
            raise ConnectorError(f"ZenML server {self.url} unreachable: {type(exc).__name__}: {exc}") from None
        if r.status_code in (401, 403):
            raise ConnectorError(
                f"ZenML server {self.url} refused the API key in ${self._key_name} ({_detail(r)}): the key is wrong, "
                "revoked, expired or its service account is deactivated; create a new key "
                "(zenml service-account api-key <account> create) and set the variable"
            )
        if r.status_code >= 400:
            raise ConnectorError(f"ZenML login at {self.url} failed: HTTP {r.status_code} {_detail(r)}")
        token = r.json().get("access_token")
        if not token:
            raise ConnectorError(f"ZenML login at {self.url} returned no access token")
        with _TOKENS_LOCK:
            _TOKENS[self._cache_key] = token
        return token

    def _token(self) -> str:
        with _TOKENS_LOCK:
            token = _TOKENS.get(self._cache_key)
        return token or self._login()

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json_body: Any = None, allow: tuple[int, ...] = ()) -> Any:
        """One API call (path under /api/v1); JSON answer. A 401 logs in again once; other errors raise."""
        for attempt in (0, 1):
            token = self._token()
            self._count()
            try:
                r = self._http.request(method, path, params=params, json=json_body,
                                       headers={"Authorization": f"Bearer {token}"})
            except httpx.HTTPError as exc:
                raise ConnectorError(f"ZenML {method} {path} at {self.url}: {type(exc).__name__}: {exc}") from None
            if r.status_code == 401 and attempt == 0:
                with _TOKENS_LOCK:
                    if _TOKENS.get(self._cache_key) == token:
                        del _TOKENS[self._cache_key]
                continue
            if r.status_code == 401:
                raise ConnectorError(f"ZenML server {self.url} refused the token from ${self._key_name} after a fresh "
                                     f"login ({_detail(r)}): the key was revoked or its service account deactivated")
            if r.status_code in allow:
                return None
            if r.status_code == 403:
                raise ConnectorError(f"ZenML {method} {path}: the service account of ${self._key_name} lacks "
                                     f"permission ({_detail(r)})")
            if r.status_code == 404:
                raise NotFound(f"ZenML {method} {path} at {self.url}: not found ({_detail(r)})")
            if r.status_code >= 400:
                raise ConnectorError(f"ZenML {method} {path} at {self.url}: HTTP {r.status_code} {_detail(r)}")
            return r.json() if r.content else None
        raise AssertionError("unreachable")

    def pages(self, path: str, params: Mapping[str, Any], size: int) -> Iterator[dict[str, Any]]:
        """Every item of a paged listing (``page``/``size``; ``total_pages`` from the first answer)."""
        page = 1
        while True:
            data = self.request("GET", path, params={**params, "page": page, "size": size})
            yield from data.get("items") or []
            if page >= int(data.get("total_pages") or 1):
                return
            page += 1


def _detail(r: httpx.Response) -> str:
    try:
        detail = r.json().get("detail")
    except ValueError:
        return r.text[:200]
    if isinstance(detail, list):
        return ": ".join(str(d) for d in detail)[:300]
    return str(detail)[:300]

