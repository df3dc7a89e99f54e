"""A small HTTP reverse proxy on 127.0.0.1 in front of a real server, to make it hang or go away on cue.

``hang_after(path)`` forwards the matching request and then never answers (the server did the work, the client
never learns it: the nastiest moment for a crash); ``hang_before(path)`` never forwards it. ``stop()`` closes the
listening socket, so the address refuses connections exactly as a server that is down does.
"""

from __future__ import annotations

import http.client
import http.server
import threading
import urllib.parse
from dataclasses import dataclass, field


@dataclass
class Proxy:
    upstream: str
    url: str = ""
    hang_paths: dict[str, str] = field(default_factory=dict)  # path fragment -> "before" | "after"
    seen: list[str] = field(default_factory=list)
    forwarded: threading.Event = field(default_factory=threading.Event)  # set when a hang_after request went through
    _server: http.server.ThreadingHTTPServer | None = None
    _release: threading.Event = field(default_factory=threading.Event)

    def hang_after(self, fragment: str) -> None:
        self.hang_paths[fragment] = "after"

    def hang_before(self, fragment: str) -> None:
        self.hang_paths[fragment] = "before"

    def start(self) -> Proxy:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.seen.append(f"{self.command} {self.path}")
                rule = next((mode for frag, mode in proxy.hang_paths.items() if frag in self.path), None)
                if rule == "before":
                    proxy._release.wait()
                    return
                up = urllib.parse.urlsplit(proxy.upstream)
                conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                if rule == "after":
                    proxy.forwarded.set()
                    proxy._release.wait()
                    return
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            def _safe(self) -> None:
                # one request per connection: once stopped, no kept-alive connection can reach the server any more
                self.close_connection = True
                try:
                    self._relay()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _safe

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Close the listening socket: the address now refuses connections, like a server that is down."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
