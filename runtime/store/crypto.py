"""Fernet encryption of secrets at rest (connection passwords and extras, variables).

The key comes from ``[core] fernet_key`` (comma-separated keys rotate: the first encrypts,
all decrypt). When it is empty, a key is generated once into ``$WINDSOCK_HOME/fernet.key``
(mode 0600) and used from then on; back that file up with the database.
"""

from __future__ import annotations

import binascii
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from runtime.errors import ConfigError, WindsockError
from runtime.settings import Settings

KEY_FILE = "fernet.key"


def get_fernet(settings: Settings) -> MultiFernet:
    """The Fernet of these settings: ``core.fernet_key``, else the generated key file."""
    raw = str(settings.get("core", "fernet_key") or "")
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if not keys:
        keys = [load_or_create_key_file(settings.home / KEY_FILE)]
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, binascii.Error):
        raise ConfigError(
            "setting [core] fernet_key: not a valid Fernet key (32 url-safe base64 bytes)"
        ) from None


def load_or_create_key_file(path: Path) -> str:
    """The key stored in ``path``; created with mode 0600 on first need (safe against races)."""
    if not path.exists():
        _create_key_file(path)
    key = path.read_text().strip()
    if not key:
        raise ConfigError(f"Fernet key file {path} is empty; delete it or set [core] fernet_key")
    return key


def _create_key_file(path: Path) -> None:
    """Write a fresh key to a private temp file and link it into place; the first writer wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, Fernet.generate_key() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def encrypt(fernet: MultiFernet, text: str) -> str:
    """Ciphertext of ``text`` as a str."""
    return fernet.encrypt(text.encode()).decode()


def decrypt(fernet: MultiFernet, token: str, *, what: str) -> str:
    """Plain text of ``token``; a WindsockError naming ``what`` when the key does not fit."""
    try:
        return fernet.decrypt(token.encode()).decode()
    except InvalidToken:
        raise WindsockError(
            f"cannot decrypt {what}: the Fernet key changed or the value is corrupt"
        ) from None
