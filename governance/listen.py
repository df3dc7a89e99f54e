"""``countersign listen``: one long-running process turning registry events into history as they happen.

Three threads and a small HTTP server:

- **HTTP** (``[listen] address:port``): ``POST /webhooks/mlflow/<account>`` receives an MLflow webhook delivery
  (body at most ``max_body_bytes``; HMAC-SHA256 verified with the account's secret; refused when signed outside
  ``replay_window_seconds``; a delivery id seen before is answered 200 and recorded once), ``GET /health`` answers
  the counters as JSON (503 while stopping or when a thread has died).
- **queue** (``[listen] queue_url``): long-polls the SQS queue an EventBridge rule delivers SageMaker events to;
  each message is committed to ``history_events`` (whatever it holds: a malformed or foreign message is stored
  with that status) and only then deleted. A message redelivered after a crash is the same event id: recorded once.
- **worker**: applies the stored events in their own time order once they are ``settle_seconds`` old
  (:func:`governance.events.apply_events`), then runs an incremental sync of each account they touched, with the
  events' times as hints (:func:`governance.sync.sync`).

Nothing an event contains stops the process: unknown and malformed events are counted and logged. SIGTERM or
SIGINT stops taking deliveries, finishes the events already stored, and exits 0.
"""

from __future__ import annotations

import collections
import http.server
import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import connectors
from connectors.base import EventQueue, QueuedMessage, RegistryEvent
from core.clock import utcnow
from core.errors import AccessDenied, ConfigError, CountersignError, InputError
from governance.events import Applied, apply_events, event_row, group_by_account

if TYPE_CHECKING:
    from governance.config import ListenConfig
    from governance.context import Context

log = logging.getLogger("countersign.listen")
_ROUTE = re.compile(r"^/webhooks/mlflow/(?P<account>[^/?#]+)/?$")


class Counters:
    """Thread-safe counts of what the listener saw (the health endpoint shows them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: collections.Counter[str] = collections.Counter()

    def add(self, name: str, n: int = 1) -> None:
        """Count ``n`` more of ``name``."""
        with self._lock:
            self._counts[name] += n

    def snapshot(self) -> dict[str, int]:
        """The counts now."""
        with self._lock:
            return dict(self._counts)


@dataclass
class Listener:
    """The listener of one workspace (see the module docstring); :meth:`start`, then :meth:`stop`."""

    ctx: Context
    config: ListenConfig
    secrets: Mapping[str, str] = field(default_factory=dict)  # MLflow account → webhook secret
    queue: EventQueue | None = None
    owners: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (AWS account id, region) → account
    sync_after: bool = True
    counts: Counters = field(default_factory=Counters)
    last_error: str | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _wake: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _server: http.server.ThreadingHTTPServer | None = None
    _latencies: collections.deque = field(default_factory=lambda: collections.deque(maxlen=10_000))

    # -- life -------------------------------------------------------------------------------------------------------

    def start(self, address: str | None = None, port: int | None = None) -> Listener:
        """Bind the HTTP server and start the threads; returns at once."""
        self._server = http.server.ThreadingHTTPServer((address or self.config.address,
                                                        self.config.port if port is None else port), _handler(self))
        self._server.daemon_threads = True
        self._spawn("http", self._server.serve_forever)
        self._spawn("worker", self._work)
        if self.queue is not None:
            self._spawn("queue", self._poll)
        log.info("listening on %s (MLflow webhooks: %s; queue: %s)", self.url,
                 ", ".join(sorted(self.secrets)) or "none", "yes" if self.queue is not None else "none")
        return self

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=f"listen-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    @property
    def url(self) -> str:
        """Where the HTTP server listens."""
        host, port = self._server.server_address[:2] if self._server else ("", 0)
        return f"http://{host}:{port}"

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking deliveries, apply what was stored, and end the threads."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        log.info("stopped: %s", json.dumps(self.counts.snapshot(), sort_keys=True))

    def health(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, document) of ``GET /health``."""
        alive = all(t.is_alive() for t in self._threads)
        ok = alive and not self._stopping.is_set()
        doc = {"status": "ok" if ok else ("stopping" if self._stopping.is_set() else "degraded"),
               "counts": self.counts.snapshot(), "last_error": self.last_error,
               "queue": self.queue is not None, "mlflow_accounts": sorted(self.secrets)}
        return (200 if ok else 503), doc

    def latencies(self) -> list[float]:
        """Seconds from each applied event's own time to its history row's commit (newest 10,000)."""
        return list(self._latencies)

    # -- intake -----------------------------------------------------------------------------------------------------

    def receive_webhook(self, account: str, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Verify, parse and store one MLflow delivery for ``account``: (HTTP status, answer)."""
        hooks = connectors.events_of("mlflow")
        secret = self.secrets.get(account)
        if secret is None or hooks is None:
            return 404, {"error": f"no MLflow account {account!r} takes webhooks here"}
        try:
            delivery = hooks.verify(secret, headers, body, now=time.time(), tolerance=self.config.replay_window_seconds)
        except AccessDenied as exc:
            self.counts.add("refused")
            log.warning("refused a delivery for %s: %s", account, exc)
            return 401, {"error": str(exc)}
        text = body.decode("utf-8", "replace")
        try:
            event = hooks.parse(body, delivery)
        except InputError as exc:
            self.counts.add("malformed")
            log.warning("malformed delivery %s for %s: %s", delivery.delivery_id, account, exc)
            return 400, {"error": str(exc)}
        event = _scoped(event, account)
        return self._store(account, event, text)

    def _store(self, account: str | None, event: RegistryEvent, payload: str) -> tuple[int, dict[str, Any]]:
        status = "pending" if event.changes else "ignored"
        detail = None if event.changes else f"{event.kind}: no change Countersign records"
        new = self.ctx.catalog.record_event(event_row(account, event.channel, event.kind, payload, event=event,
                                                      status=status, detail=detail))
        self.counts.add("received" if new else "duplicates")
        if not event.changes:
            self.counts.add("unknown")
            log.info("event %s (%s) names no change Countersign records", event.event_id, event.kind)
        if new and event.changes:
            self._wake.set()
        return 200, {"event_id": event.event_id, "status": "recorded" if new else "duplicate"}

    def receive_message(self, message: QueuedMessage) -> None:
        """Store what one queued message holds (raises when the catalog refused it: the message is kept then)."""
        events = connectors.events_of("sagemaker")
        try:
            envelope = events.envelope_of(message.body)
            event = events.parse(envelope)
        except (InputError, KeyError, TypeError, ValueError) as exc:
            self.counts.add("malformed")
            log.warning("malformed message %s: %s", message.message_id, exc)
            self.ctx.catalog.record_event(event_row(None, "eventbridge", None, message.body,
                                                    event_id=f"sqs:{message.message_id}", status="malformed",
                                                    detail=str(exc)[:500]))
            return
        account = self.owners.get(tuple(events.owner(envelope)))
        if account is None:
            self.counts.add("unknown")
            log.warning("event %s comes from AWS account %s / %s, which no account here reads", event.event_id,
                        *events.owner(envelope))
            self.ctx.catalog.record_event(event_row(None, event.channel, event.kind, message.body, event=event,
                                                    status="unknown account", detail=str(events.owner(envelope))))
            return
        self._store(account, event, message.body)

    # -- the queue --------------------------------------------------------------------------------------------------

    def _poll(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            try:
                messages = self.queue.receive(self.config.wait_seconds)
            except Exception as exc:  # the network, expired credentials: logged, retried, never fatal
                self._failed("receiving from the queue", exc)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 60.0)
                continue
            backoff = 1.0
            for message in messages:
                try:
                    self.receive_message(message)
                except Exception as exc:  # not committed: keep the message, SQS delivers it again
                    self._failed(f"storing message {message.message_id}", exc)
                    continue
                try:
                    self.queue.delete(message.receipt)
                except Exception as exc:  # committed already: a redelivery is recorded once
                    self._failed(f"deleting message {message.message_id}", exc)

    def _failed(self, what: str, exc: BaseException) -> None:
        self.counts.add("errors")
        self.last_error = f"{what}: {exc}"[:500]
        log.error("%s failed: %s", what, exc)

    # -- the worker -------------------------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            stopping = self._stopping.is_set()
            self._wake.wait(self.config.settle_seconds if not stopping else 0)
            self._wake.clear()
            try:
                applied = self.apply_round(settle=0.0 if stopping else self.config.settle_seconds)
            except Exception as exc:  # the catalog unreadable: the events stay pending, tried again
                self._failed("reading the stored events", exc)
                applied = []
                if stopping:
                    return
                self._stopping.wait(1.0)
            for batch in applied:
                self._sync(batch)
            if stopping:
                return

    def apply_round(self, settle: float) -> list[Applied]:
        """Apply every stored event that is at least ``settle`` seconds old, per account; the batches applied."""
        import datetime as dt

        pending = self.ctx.catalog.pending_events(utcnow() - dt.timedelta(seconds=settle))
        out = []
        for account, rows in group_by_account(pending).items():
            try:
                parsed = [(r, _reparse(r)) for r in rows]
                batch = apply_events(self.ctx, account, parsed)
            except Exception as exc:  # one account's refusal (a ledger to verify, a busy catalog, a defect) is
                # counted and shown on /health while the others' events flow; its events stay stored, tried again
                self._failed(f"applying the events of {account}", exc)
                continue
            done = utcnow()
            for r, _ in parsed:
                if r["event_time"] is not None:
                    self._latencies.append((done - r["event_time"]).total_seconds())
            for status in ("applied", "unchanged", "late", "waiting sync", "ignored"):
                self.counts.add(status.replace(" ", "_"), batch.count(status))
            out.append(batch)
        return out

    def _sync(self, batch: Applied) -> None:
        if not self.sync_after or (self._stopping.is_set() and not batch.hints):
            return
        from governance.sync import sync

        try:
            report = sync(self.ctx, accounts=[batch.account], hints={batch.account: batch.hints})
        except CountersignError as exc:
            self._failed(f"syncing {batch.account}", exc)
            return
        self.counts.add("syncs")
        for r in report.results:
            if r.status == "failed":
                self._failed(f"syncing {r.account}", RuntimeError(r.error or "failed"))


def _scoped(event: RegistryEvent, account: str) -> RegistryEvent:
    """``event`` with its id naming the account it came to (two servers' deliveries never collide)."""
    import dataclasses

    event_id = event.event_id.replace("mlflow:", f"mlflow:{account}:", 1)
    return dataclasses.replace(event, event_id=event_id,
                               changes=tuple(dataclasses.replace(c, event_id=event_id) for c in event.changes))


def _reparse(row: dict[str, Any]) -> RegistryEvent:
    """The event a stored row holds, parsed again from its payload (the process may have restarted)."""
    payload = (row["payload"] or "").encode()
    if row["channel"] == "mlflow webhook":
        hooks = connectors.events_of("mlflow")
        # verified when it arrived; its time is the body's own timestamp
        delivery = hooks.Delivery(row["event_id"].rsplit(":", 1)[-1], 0)
        return _scoped(hooks.parse(payload, delivery), row["account"])
    events = connectors.events_of("sagemaker")
    return events.parse(events.envelope_of(payload.decode()))


def _handler(listener: Listener) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "countersign-listen"

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("%s %s", self.address_string(), fmt % args)

        def _answer(self, status: int, doc: dict[str, Any]) -> None:
            data = json.dumps(doc, sort_keys=True).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] in ("/health", "/healthz"):
                self._answer(*listener.health())
            else:
                self._answer(404, {"error": "not found"})

        def do_POST(self) -> None:
            found = _ROUTE.match(self.path)
            if not found:
                self._answer(404, {"error": "not found (POST /webhooks/mlflow/<account>)"})
                return
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self.close_connection = True
                self._answer(411, {"error": "Content-Length is required"})
                return
            if int(length) > listener.config.max_body_bytes:
                listener.counts.add("refused")
                self.close_connection = True  # the body is never read
                self._answer(413, {"error": f"body larger than {listener.config.max_body_bytes} bytes"})
                return
            body = self.rfile.read(int(length))
            try:
                status, doc = listener.receive_webhook(found["account"], dict(self.headers.items()), body)
            except Exception as exc:  # not stored: 503 makes MLflow deliver it again
                listener._failed("storing a delivery", exc)
                status, doc = 503, {"error": "could not record the delivery; it will be retried"}
            self._answer(status, doc)

    return Handler


def build_listener(ctx: Context, environ: Mapping[str, str], *, queue_url: str | None = None,
                   sync_after: bool = True) -> Listener:
    """A listener for ``ctx``'s workspace: webhook secrets read from ``environ`` (the edge), the queue and the
    (AWS account, region) → account map built from the SageMaker accounts' connectors."""
    from governance.sources import connector_of

    config = ctx.settings.listen
    secrets = {a.name: secret for a in ctx.settings.accounts if a.connector == "mlflow"
               and (secret := _secret(environ, config.secret_variable(a.name)))}
    for name in secrets:
        if getattr(ctx.settings.account(name).settings, "workspaces", None) is not None:
            # a delivery names a model without its workspace: which of the account's workspaces it means is unknown
            raise ConfigError(f"account {name!r} reads several MLflow workspaces, and a webhook names no workspace: "
                              f"unset ${config.secret_variable(name)} (sync polls it), or give each workspace an "
                              "account of its own (workspace = \"…\") to listen to")
    owners: dict[tuple[str, str], str] = {}
    queue = None
    url = queue_url or config.queue_url
    sagemaker = [a for a in ctx.settings.accounts if a.connector == "sagemaker"]
    for account in sagemaker:
        conn = connector_of(ctx.workspace, account)
        owners[(conn.aws_account_id(), account.settings.region)] = account.name
    if url:
        reader = next((a for a in sagemaker if a.name == (config.queue_account or a.name)), None)
        if reader is None:
            raise ConfigError(f"[listen] queue_account {config.queue_account!r} is not a SageMaker account of this "
                              "workspace (its credentials read the queue)")
        queue = connector_of(ctx.workspace, reader).event_queue(url)
    if not secrets and queue is None:
        raise ConfigError("nothing to listen to: set the webhook secret of an MLflow account in "
                          f"${config.secret_variable('<account>')} ([listen] secret_env), or [listen] queue_url")
    return Listener(ctx, config, secrets, queue, owners, sync_after)


def _secret(environ: Mapping[str, str], name: str) -> str | None:
    """The value of variable ``name``, or the content of the file ``<name>_FILE`` names (a Docker secret)."""
    if environ.get(name):
        return environ[name]
    path = environ.get(f"{name}_FILE")
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip() or None
    except OSError as exc:
        raise ConfigError(f"${name}_FILE names {path}, which cannot be read ({exc.strerror})") from None
