"""Fernet encryption of secrets at rest (connection passwords and extras, variables).

The key comes from ``[core] fernet_key`` (comma-separated keys rotate: the first encrypts,
all decrypt). When it is empty and the metadata database is a local SQLite file, a key is
generated once into ``$WINDSOCK_HOME/fernet.key`` (mode 0600) and used from then on; back
that file up with the database. A key is generated only while the store holds no encrypted
value: a lost key file is an error, never silently replaced by a new key that cannot read
the old values. A database other than SQLite is shared by hosts, so it needs the key
configured (every host the same); Windsock refuses to make one per host.
"""

from __future__ import annotations

import binascii
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from runtime.errors import ConfigError, WindsockError
from runtime.settings import Settings

KEY_FILE = "fernet.key"
SETTING = "[core] fernet_key (env WINDSOCK__CORE__FERNET_KEY or AIRFLOW__CORE__FERNET_KEY)"


class DecryptError(WindsockError):
    """A stored value cannot be decrypted with the configured key(s)."""


def get_fernet(settings: Settings) -> MultiFernet:
    """The Fernet of these settings: ``core.fernet_key``, else the key file (made only when safe)."""
    keys = configured_keys(settings)
    if not keys:
        keys = [_key_from_file(settings)]
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, binascii.Error):
        raise ConfigError(
            "setting [core] fernet_key: not a valid Fernet key (32 url-safe base64 bytes)"
        ) from None


def configured_keys(settings: Settings) -> list[str]:
    """The keys of ``[core] fernet_key`` (empty list when unset)."""
    raw = str(settings.get("core", "fernet_key") or "")
    return [k.strip() for k in raw.split(",") if k.strip()]


def is_shared_database(settings: Settings) -> bool:
    """True for a database other than SQLite: several hosts may use it, so they need one key."""
    return not str(settings.get("database", "sql_alchemy_conn")).startswith("sqlite")


def key_source_problem(settings: Settings) -> str | None:
    """What is wrong with where the key would come from, said up front (None when fine)."""
    if configured_keys(settings) or not is_shared_database(settings):
        return None
    return (f"{SETTING} is not set, and the metadata database is shared by every host that uses it: "
            "set the same key on every host (generate one with: python -c 'from cryptography.fernet "
            "import Fernet; print(Fernet.generate_key().decode())'); connections and variables "
            "with secrets are refused until then")


def _key_from_file(settings: Settings) -> str:
    """The key file's key; created only for a local SQLite store that holds no encrypted value."""
    problem = key_source_problem(settings)
    if problem is not None:
        raise ConfigError(problem)
    path = settings.home / KEY_FILE
    if not path.exists():
        count = encrypted_values(settings)
        if count:
            raise ConfigError(
                f"Fernet key file {path} is missing, but the metadata database holds {count} value(s) "
                f"encrypted with a key: restore the file, or set {SETTING} to that key. "
                "A new key would not read them, so none is generated"
            )
    return load_or_create_key_file(path)


def encrypted_values(settings: Settings) -> int:
    """How many encrypted connection fields and variables the store holds (0 if it has no tables yet)."""
    import sqlalchemy as sa

    from runtime.store.models import ConnectionModel, Variable
    from runtime.store.session import open_store, transaction

    _, factory = open_store(settings)
    conns = sa.select(sa.func.count()).select_from(ConnectionModel).where(
        sa.or_(ConnectionModel.is_encrypted.is_(True), ConnectionModel.is_extra_encrypted.is_(True))
    )
    variables = sa.select(sa.func.count()).select_from(Variable).where(Variable.is_encrypted.is_(True))
    try:
        with transaction(factory) as session:
            return int(session.scalar(conns) or 0) + int(session.scalar(variables) or 0)
    except sa.exc.OperationalError as exc:
        if "no such table" in str(exc.orig):
            return 0
        raise WindsockError(f"cannot check the metadata database for encrypted values: {exc.orig}") from None


def load_or_create_key_file(path: Path) -> str:
    """The key stored in ``path``; created with mode 0600 on first need (safe against races)."""
    if not path.exists():
        _create_key_file(path)
    key = path.read_text().strip()
    if not key:
        raise ConfigError(f"Fernet key file {path} is empty; restore it from a backup or set [core] fernet_key")
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
    """Plain text of ``token``; a DecryptError naming ``what`` when the key does not fit."""
    try:
        return fernet.decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptError(
            f"cannot decrypt {what}: the Fernet key changed or the value is corrupt"
        ) from None
