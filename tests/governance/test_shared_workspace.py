"""Issue 34, finding 7: one workspace, several operating-system users (the documented ``os:<user>`` model).

Two real OS users of one group take turns on a group-shared workspace (setgid, group-writable: docs/signoff.md), each
through the real CLI in a process of their own: what one writes (a checkpoint, the signed head, a countersigned
export) the other reads and moves on from, and nothing is ever only its creator's.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from governance.catalog import Catalog
from governance.config import Workspace
from governance.demo_history import open_request_id

ROOT = Path(__file__).resolve().parents[2]
GROUP, ALICE, BOB = "cstestshare", "cstestalice", "cstestbob"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creating two operating-system users needs root")


def _run(*cmd: str) -> None:
    subprocess.run(list(cmd), check=True, capture_output=True, text=True)


def _reachable_by_others(paths: list[Path]) -> list[tuple[Path, int]]:
    """Let other users traverse to the interpreter and the checkout (o+x on each folder that lacks it); returns what
    to restore. On CI the interpreter lives under /root (0700)."""
    changed = []
    for target in paths:
        for folder in [*reversed(target.parents), target]:
            mode = folder.stat().st_mode
            if folder.is_dir() and not mode & stat.S_IXOTH:
                os.chmod(folder, mode | stat.S_IXOTH)
                changed.append((folder, mode))
    return changed


@pytest.fixture(scope="module")
def users() -> Iterator[None]:
    with contextlib.suppress(KeyError):
        grp.getgrnam(GROUP)
    if not any(g.gr_name == GROUP for g in grp.getgrall()):
        _run("groupadd", GROUP)
    for user in (ALICE, BOB):
        try:
            pwd.getpwnam(user)
        except KeyError:
            _run("useradd", "--no-create-home", "--gid", GROUP, "--shell", "/usr/sbin/nologin", user)
    python = Path(os.path.realpath(sys.executable))
    changed = _reachable_by_others([python.parent, Path(sys.base_prefix), Path(sys.prefix), ROOT])
    try:
        yield
    finally:
        for folder, mode in reversed(changed):
            os.chmod(folder, mode)


@pytest.fixture
def shared(users, demo_workspace: Workspace) -> Iterator[Workspace]:
    """A copy of the demo workspace converted to a group-shared one the way docs/signoff.md tells an operator."""
    top = Path(tempfile.mkdtemp(prefix="cs-shared-", dir="/tmp"))
    os.chmod(top, 0o755)
    ws = Workspace(top / "ws")
    shutil.copytree(demo_workspace.root, ws.root)
    text = ws.config_path.read_text()
    ws.config_path.write_text(text.replace("[roles]", f'[roles]\n"os:{ALICE}" = ["ml_engineer", "auditor"]\n'
                                                      f'"os:{BOB}" = ["risk_officer"]', 1))
    # the documented conversion: the group owns everything, can read and write it, and keeps owning what is created
    _run("chgrp", "-R", GROUP, str(ws.root))
    _run("chmod", "-R", "g+rwX,o-rwx", str(ws.root))
    _run("find", str(ws.root), "-type", "d", "-exec", "chmod", "g+s", "{}", "+")
    for user in (ALICE, BOB):
        home = top / f"home-{user}"
        home.mkdir()
        _run("chown", f"{user}:{GROUP}", str(home))
    try:
        yield ws
    finally:
        shutil.rmtree(top, ignore_errors=True)


def as_user(user: str, ws: Workspace, *args: str) -> subprocess.CompletedProcess:
    home = ws.root.parent / f"home-{user}"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"), "LANG": "C.UTF-8"}
    cmd = ["setpriv", f"--reuid={user}", f"--regid={GROUP}", "--init-groups",
           sys.executable, "-m", "countersign_cli", *args, "--workspace", str(ws.root)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


def test_two_os_users_take_turns_on_a_shared_workspace(shared: Workspace) -> None:
    ws = shared
    rid = open_request_id(Catalog(ws.catalog_path))
    done = as_user(ALICE, ws, "ledger", "checkpoint")
    assert done.returncode == 0, done.stderr
    # Bob approves after Alice sealed a checkpoint: his commit moves the head Alice signed, his seal reads her file
    done = as_user(BOB, ws, "approve", rid, "--comment", "all gates pass", "--no-execute")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    done = as_user(ALICE, ws, "ledger", "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    done = as_user(BOB, ws, "ledger", "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    gid = grp.getgrnam(GROUP).gr_gid
    created = [p for p in (*ws.checkpoints_dir.iterdir(), *ws.keys_dir.iterdir()) if p.is_file()]
    for path in created:
        st = path.stat()
        assert st.st_gid == gid and st.st_mode & 0o060 == 0o060, f"{path.name} {oct(st.st_mode)}"
        assert not st.st_mode & 0o007, f"{path.name} is readable by others: {oct(st.st_mode)}"
    owners = {pwd.getpwuid(p.stat().st_uid).pw_name for p in ws.checkpoints_dir.glob("ledger-*.json")}
    assert ALICE in owners or BOB in owners  # written by the users, not by root


def test_a_private_workspace_stays_owner_only(demo_copy: Workspace) -> None:
    from governance.config import write_private

    path = write_private(demo_copy.checkpoints_dir / "probe.json", b"{}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
