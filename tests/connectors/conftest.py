"""Real AWS peers for connector tests: a moto server on 127.0.0.1 and a fault-injecting proxy in front of it.

Fixtures others reuse:

- ``moto_server`` (session): a :class:`MotoServer` with ``url`` and ``reset()``.
- ``aws_base_env`` (session): fake credentials, region and ``AWS_ENDPOINT_URL`` pointing boto3 at the server, no
  shared config files; ``aws_env`` (function): the same with a freshly reset moto state. Reach an account with
  ``tests.connectors.sagemaker_seed.session_for(account_id)`` (STS AssumeRole, like the connector does).
- ``fault_proxy`` (function): a :class:`FaultProxy` forwarding to moto; ``fail(operation, status, code, times)``
  and ``delay(operation, seconds)`` make chosen calls throttle, fail or hang; ``answer(operation, respond)`` stands
  in for an operation moto does not implement (SageMaker's ListActions / DescribeAction). Point one account at it with a
  profile whose ``endpoint_url`` is ``fault_proxy.url`` (see ``aws_profiles``).
"""

from __future__ import annotations

import http.client
import http.server
import json
import logging
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

REGION = "eu-west-1"


@dataclass
class MotoServer:
    """A running moto server."""

    url: str
    server: ThreadedMotoServer

    def reset(self) -> None:
        """Forget every resource in every account (assume roles again afterwards)."""
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10).read()
        # moto forgets the credentials it issued too (AWS would honour them until they expire): the connectors'
        # shared sessions must assume their roles again
        from connectors.sagemaker import forget_clients

        forget_clients()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server for the test session, on an ephemeral port of 127.0.0.1."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield MotoServer(f"http://{host}:{port}", server)
    server.stop()


@pytest.fixture(scope="session")
def aws_base_env(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """boto3 pointed at the moto server through its ordinary configuration (environment only), for the session.

    Fake credentials and region, ``AWS_ENDPOINT_URL``, no shared config files, two attempts per call (moto answers
    unimplemented operations with HTTP 500, which botocore retries). Does not reset moto: see ``aws_env``.
    """
    empty = tmp_path_factory.mktemp("aws") / "none"
    empty.write_text("")
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                     "MOTO_ACCOUNT_ID", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_STS",
                     "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_ENDPOINT_URL", moto_server.url)
        mp.setenv("AWS_CONFIG_FILE", str(empty))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        mp.setenv("AWS_MAX_ATTEMPTS", "2")
        yield moto_server


@pytest.fixture
def aws_env(aws_base_env: MotoServer) -> MotoServer:
    """``aws_base_env`` with a freshly reset moto server: every account starts empty."""
    aws_base_env.reset()
    return aws_base_env


# -- fault proxy -----------------------------------------------------------------------------------------


@dataclass
class _Rule:
    status: int = 500
    code: str = "InternalFailure"
    times: int = 1_000_000
    delay: float = 0.0


@dataclass
class FaultProxy:
    """An HTTP proxy to moto that fails, throttles or delays chosen operations."""

    upstream: str
    url: str = ""
    rules: dict[str, _Rule] = field(default_factory=dict)
    rewrites: dict[str, Callable[[dict], dict]] = field(default_factory=dict)
    request_hooks: dict[str, Callable[[dict], None]] = field(default_factory=dict)
    answers: dict[str, Callable[[dict], dict]] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, operation: str, status: int = 500, code: str = "InternalFailure", times: int = 1_000_000) -> None:
        """Answer ``operation`` (e.g. ``ListModelCards``, ``AssumeRole``) with an error ``times`` times."""
        self.rules[operation] = _Rule(status, code, times)

    def rewrite(self, operation: str, change: Callable[[dict], dict]) -> None:
        """Pass successful JSON answers to ``operation`` through ``change``: how a test shows the connector a field
        AWS returns and moto does not (e.g. the ``ModelCard`` of DescribeModelPackage)."""
        self.rewrites[operation] = change

    def on_request(self, operation: str, see: Callable[[dict], None]) -> None:
        """Show every JSON request of ``operation`` to ``see`` before it is forwarded (what a test stand-in needs to
        remember a field moto ignores)."""
        self.request_hooks[operation] = see
    def answer(self, operation: str, respond: Callable[[dict], dict]) -> None:
        """Answer the JSON-protocol ``operation`` with ``respond(request)`` instead of moto: the stand-in for an
        operation moto does not implement (a test using it says so), at this one HTTP boundary only."""
        self.answers[operation] = respond

    def delay(self, operation: str, seconds: float) -> None:
        """Forward ``operation`` after ``seconds``."""
        self.rules[operation] = _Rule(status=0, times=0, delay=seconds)

    def count(self, operation: str) -> int:
        """How many ``operation`` requests reached the proxy."""
        with self.lock:
            return self.seen.count(operation)


def _operation(headers: http.client.HTTPMessage, body: bytes) -> str:
    target = headers.get("X-Amz-Target")
    if target:
        return target.split(".")[-1]
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    return form.get("Action", [""])[0]


def _handler(proxy: FaultProxy) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _relay(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            op = _operation(self.headers, body)
            with proxy.lock:
                proxy.seen.append(op)
                rule = proxy.rules.get(op)
                fire = rule is not None and rule.times > 0
                if fire:
                    rule.times -= 1
            if rule is not None and rule.delay:
                time.sleep(rule.delay)
            hook = proxy.request_hooks.get(op)
            if hook is not None and body:
                hook(json.loads(body))
            respond = proxy.answers.get(op)
            if respond is not None and not fire:
                payload = json.dumps(respond(json.loads(body or b"{}")), default=str).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            if fire:
                if self.headers.get("X-Amz-Target"):
                    payload = f'{{"__type": "{rule.code}", "message": "injected {rule.code}"}}'.encode()
                    ctype = "application/x-amz-json-1.1"
                else:
                    payload = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{rule.code}</Code>"
                               f"<Message>injected {rule.code}</Message></Error><RequestId>x</RequestId>"
                               f"</ErrorResponse>").encode()
                    ctype = "text/xml"
                self.send_response(rule.status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            up = urllib.parse.urlsplit(proxy.upstream)
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            change = proxy.rewrites.get(op)
            if change is not None and resp.status == 200:
                data = json.dumps(change(json.loads(data)), default=str).encode()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        def _safe_relay(self) -> None:
            try:
                self._relay()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away (a test killed it on purpose)

        do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _safe_relay

    return Handler


@pytest.fixture
def fault_proxy(aws_base_env: MotoServer) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the moto server, on its own port of 127.0.0.1."""
    proxy = FaultProxy(upstream=aws_base_env.url)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    server.daemon_threads = True
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield proxy
    server.shutdown()
    server.server_close()


@pytest.fixture
def aws_profiles(aws_base_env: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write an AWS config file with named profiles ``{name: endpoint_url}`` (credentials 'testing').

    Endpoints then come from the profiles: ``AWS_ENDPOINT_URL`` is removed (it would win over a profile).
    Profiles not named fall back to ``[default]`` at the moto server.
    """

    def write(profiles: dict[str, str]) -> Path:
        path = tmp_path / "aws-config"
        lines = [f"[default]\nregion = {REGION}\nendpoint_url = {aws_base_env.url}\n"]
        for name, url in profiles.items():
            lines.append(f"[profile {name}]\nregion = {REGION}\nendpoint_url = {url}\n"
                         "aws_access_key_id = testing\naws_secret_access_key = testing\n")
        path.write_text("\n".join(lines))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(path))
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        return path

    return write


# -- MLflow: real `mlflow server` processes from their own cached virtualenv (tests/servers/mlflow_server.py) -----


@pytest.fixture(scope="session")
def mlflow_servers(tmp_path_factory: pytest.TempPathFactory):
    """Two MLflow servers (sqlite backend, proxied artifacts on disk) for the session, started side by side.

    The first use builds the cached virtualenv with ``mlflow[auth]==3.17.2`` when it is missing (a few minutes).
    """
    from tests.servers.mlflow_server import start_servers

    root = tmp_path_factory.mktemp("mlflow")
    servers = start_servers([root / "a", root / "b"])
    yield servers
    for s in servers:
        s.stop()


@pytest.fixture(scope="session")
def mlflow_auth_server(tmp_path_factory: pytest.TempPathFactory):
    """An MLflow server running MLflow's own basic-auth app (user ``admin``, password in ``basic_auth_password``)."""
    from tests.servers.mlflow_server import MlflowServer

    server = MlflowServer(tmp_path_factory.mktemp("mlflow-auth"), basic_auth_password="s3cret-Passw0rd!").start()
    yield server.wait()
    server.stop()


# -- ZenML: a real server from its own cached virtualenv ------------------------------------------------------


@pytest.fixture(scope="session")
def zenml_server(tmp_path_factory: pytest.TempPathFactory):
    """A ZenML 0.98.0 server (sqlite) on a free port of 127.0.0.1, activated, with a service account's API key.

    Builds the server's virtualenv first when it is not cached yet (~2 min, once per machine); starting the server
    takes ~10-25 s. Yields a :class:`tests.connectors.zenml_server.ZenMLServer` (``url``, ``api_key``, ``admin``).
    """
    from tests.connectors.zenml_server import ensure_venv, start_server

    root = tmp_path_factory.mktemp("zenml")
    python, _ = ensure_venv(log=root / "venv-build.log")
    server = start_server(root / "server", python=python)
    yield server
    server.stop()
