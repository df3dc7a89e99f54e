"""Issue 34, finding 9: a partial download left by a killed process is removed; a live process's is not."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from connectors.cache import ContentCache

ROOT = Path(__file__).resolve().parents[2]

WRITER = """
import sys, time
from pathlib import Path
from connectors.cache import ContentCache

def slow(fh):
    for _ in range(10_000):
        fh.write(b"x" * (1 << 20))  # a 10 GB artifact on a slow link
        fh.flush()
        time.sleep(0.01)

print("writing", flush=True)
ContentCache(Path(sys.argv[1]), "test").store(slow)
"""


def test_a_killed_download_is_swept_by_the_next_process_and_a_live_one_is_kept(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    killed = subprocess.Popen([sys.executable, "-c", WRITER, str(cache)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    live = subprocess.Popen([sys.executable, "-c", WRITER, str(cache)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert killed.stdout.readline().strip() == "writing"
        assert live.stdout.readline().strip() == "writing"
        time.sleep(0.5)
        killed.send_signal(signal.SIGKILL)  # kill -9 mid-download
        killed.wait(timeout=30)
        partial = sorted((cache / "tmp").iterdir())
        assert len(partial) == 2 and all(p.stat().st_size > 0 for p in partial)
        # the next process that stores into the cache sweeps what the dead one left, and only that
        done = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                               "from connectors.cache import ContentCache; "
                               "print(ContentCache(Path(sys.argv[1]), 't').store(lambda fh: fh.write(b'ok')))",
                               str(cache)], capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert done.returncode == 0, done.stderr
        left = [p.name for p in (cache / "tmp").iterdir()]
        assert left == [f"{p.name}" for p in partial if p.name.startswith(f"{live.pid}-")], left
    finally:
        live.send_signal(signal.SIGKILL)
        live.wait(timeout=30)


def test_a_store_that_fails_leaves_nothing(tmp_path: Path) -> None:
    def broken(fh) -> None:
        fh.write(b"half")
        raise OSError("connection reset")

    cache = ContentCache(tmp_path / "cache", "test")
    try:
        cache.store(broken)
    except OSError:
        pass
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []
