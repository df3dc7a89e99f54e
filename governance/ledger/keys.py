"""The workspace's Ed25519 key that signs checkpoints and the head: created on first use, owner-readable only."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.errors import ConfigError
from governance.config import Workspace, write_private

PRIVATE_KEY_FILE = "ledger-ed25519.pem"
PUBLIC_KEY_FILE = "ledger-ed25519.pub.pem"


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key (sha256 of its raw bytes, 16 hex digits)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _signing_key(workspace: Workspace) -> Ed25519PrivateKey:
    """The workspace's checkpoint key, created on first use (private key readable by the owner only)."""
    private = workspace.keys_dir / PRIVATE_KEY_FILE
    public = workspace.keys_dir / PUBLIC_KEY_FILE
    if not private.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        staged = write_private(private.with_name(f".{private.name}.{os.getpid()}.{threading.get_ident()}"), pem)
        try:
            os.link(staged, private)  # appears complete or not at all; a concurrent creator's key wins
            write_private(public, key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                serialization.PublicFormat.SubjectPublicKeyInfo))
            return key
        except FileExistsError:
            pass
        finally:
            staged.unlink(missing_ok=True)
    try:
        key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    except ValueError as exc:
        raise ConfigError(f"{private}: not a PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{private}: the ledger key must be Ed25519, found {type(key).__name__}")
    return key



_keys: dict[Path, tuple[tuple[int, int, int], Ed25519PrivateKey, str]] = {}
_keys_guard = threading.Lock()


def cached_key(workspace: Workspace) -> tuple[Ed25519PrivateKey, str]:
    """The signing key and its id, parsed once per process while the key file stays the same."""
    path = workspace.keys_dir / PRIVATE_KEY_FILE
    with contextlib.suppress(FileNotFoundError):
        st = path.stat()
        hit = _keys.get(path)
        if hit is not None and hit[0] == (st.st_mtime_ns, st.st_size, st.st_ino):
            return hit[1], hit[2]
    key = _signing_key(workspace)
    st = path.stat()
    kid = key_id(key.public_key())
    with _keys_guard:
        _keys[path] = ((st.st_mtime_ns, st.st_size, st.st_ino), key, kid)
    return key, kid


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the ledger public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path}: the ledger key must be Ed25519, found {type(key).__name__}")
    return key
