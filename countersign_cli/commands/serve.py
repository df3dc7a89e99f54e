"""CLI: ``serve`` starts the portal this package carries (app.py beside app_pages/), from any directory."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from core.errors import ConfigError

DEFAULT_PORT = 8501
# What the repository's .streamlit/config.toml sets, for an install that has no checkout around it: no browser, no
# usage statistics, no file watcher (the installed package does not change under a running server), no developer menu.
STREAMLIT_DEFAULTS = (
    "--server.headless", "true",
    "--browser.gatherUsageStats", "false",
    "--server.fileWatcherType", "none",
    "--client.toolbarMode", "viewer",
)


def serve(p: argparse.ArgumentParser) -> None:
    """``countersign serve``."""
    p.description = ("Start the Countersign portal (Streamlit) on a workspace. Any other --section.option flag is "
                    "passed to Streamlit (see 'streamlit run --help'), e.g. --server.baseUrlPath /countersign or "
                    "--secrets.files PATH; flags after a lone '--' go to Streamlit as they are.")
    p.add_argument("--workspace", metavar="DIR", help="workspace folder (default: $COUNTERSIGN_WORKSPACE or ./workspace)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on ({DEFAULT_PORT})")
    p.add_argument("--address", default="127.0.0.1",
                   help="address to listen on (127.0.0.1; 0.0.0.0 for every interface, as in a container)")
    p.set_defaults(func=cmd_serve, accepts_extra=True)


def portal_script() -> Path:
    """The portal's ``app.py``: installed beside this package (a wheel) or in the checkout (editable install)."""
    root = Path(__file__).resolve().parents[2]
    app = root / "app.py"
    if not app.is_file() or not (root / "app_pages").is_dir():
        raise ConfigError(f"the portal is not installed next to {root / 'governance'} (no app.py and app_pages/): "
                          "reinstall the countersign package")
    return app


def streamlit_command(workspace: Path, port: int, address: str, extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The Streamlit ``run`` command line, through ``portal.launch`` (Streamlit's own CLI, with the pages' imports
    and the catalog warmed while the server starts); ``extra`` comes last so a flag given there wins."""
    if not 0 < port < 65536:
        raise ConfigError(f"--port {port}: not a TCP port (1-65535)")
    return [
        sys.executable, "-m", "portal.launch", "run", str(portal_script()),
        "--server.port", str(port), "--server.address", address, *STREAMLIT_DEFAULTS, *extra,
        "--", "--workspace", str(workspace),
    ]


def require_free_port(address: str, port: int) -> None:
    """Refuse a port another process listens on, before announcing the portal (Streamlit would say so only after)."""
    import socket

    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Streamlit's server binds: TIME_WAIT is free
        try:
            probe.bind((address, port))
        except OSError as exc:  # EADDRINUSE, or an address this machine does not have
            raise ConfigError(f"cannot listen on {address}:{port} ({exc.strerror}): another program holds the port; "
                              "pick another with --port (make run PORT=...)") from None


def cmd_serve(args: argparse.Namespace) -> int:
    from governance import __version__
    from governance.config import load_settings, resolve_workspace

    ws = resolve_workspace(args.workspace, os.environ)
    settings = load_settings(ws)  # a missing or broken countersign.toml stops here, not on the first page view
    cmd = streamlit_command(ws.root, args.port, args.address, list(getattr(args, "extra", ())))
    require_free_port(args.address, args.port)
    host = "localhost" if args.address in ("127.0.0.1", "0.0.0.0", "::") else args.address
    print(f"Countersign {__version__}: portal on http://{host}:{args.port} for {settings.workspace.name} "
          f"({ws.root})", flush=True)
    if os.name == "posix":  # become the server: signals (Ctrl-C, docker stop) reach Streamlit directly
        sys.stderr.flush()
        os.execv(sys.executable, cmd)
    return subprocess.call(cmd)  # pragma: no cover (Windows)
