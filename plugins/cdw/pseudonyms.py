"""Keyed pseudonyms of personal data: what analysts get instead of a caller number or an account.

A pseudonym is ``HMAC-SHA256(key, value)`` in hex (Python's ``hmac`` gives the same): the same value gives the same
pseudonym (so analysts can count distinct callers or link a counterparty across days),
and without the key nobody can test a guessed phone number against it.

The key comes from the Airflow connection ``cdw_pseudonym_key`` (its password) in a task,
else from ``CDW_PSEUDONYM_KEY``. Only with the embedded warehouse of a developer's machine
(``CDW_WAREHOUSE_URL`` unset) is a random key generated once into ``CDW_HOME/pseudonym.key``
(mode 0600); a configured warehouse without a key is an error, because a key made up per
machine would give every worker different pseudonyms.

The HMAC is computed by the warehouse itself (``restricted.pseudonym(text)``, built-in
``sha256`` only, no extension) during the dbt run. The key never appears in SQL text,
compiled models or logs: dbt's connections receive the two key blocks of RFC 2104
(``K xor ipad``, ``K xor opad``) as session settings through libpq's ``PGOPTIONS``.

Changing the key (docs/operations.md, key rotation) changes every pseudonym: rebuild the facts
from raw with the new key so that old and new dates stay comparable.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from cdw.settings import get_settings

#: Airflow connection whose password is the key (takes precedence over the environment).
KEY_CONN_ID = "cdw_pseudonym_key"
#: A shorter key is refused: HMAC-SHA256 wants at least 32 bytes of secret to be worth it.
MIN_KEY_BYTES = 32
_BLOCK = 64  # SHA-256 block size


class PseudonymKeyError(RuntimeError):
    """No usable pseudonymisation key."""


def local_key_path() -> Path:
    return get_settings().home / "pseudonym.key"


def resolve_key(airflow_key: str | None = None) -> bytes:
    """The key as bytes: ``airflow_key`` (from the Airflow connection), else the environment,
    else (embedded warehouse only) the project-local generated key."""
    settings = get_settings()
    key = airflow_key or settings.pseudonym_key
    if key is None:
        if settings.warehouse_url:
            raise PseudonymKeyError(
                "no pseudonymisation key: set CDW_PSEUDONYM_KEY (or the Airflow connection "
                f"{KEY_CONN_ID}) to a secret of at least {MIN_KEY_BYTES} bytes")
        key = _local_key()
    raw = key.encode("utf-8")
    if len(raw) < MIN_KEY_BYTES:
        raise PseudonymKeyError(f"the pseudonymisation key is {len(raw)} bytes long: at least {MIN_KEY_BYTES} needed")
    return raw


def _local_key() -> str:
    path = local_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


def key_blocks(key: bytes) -> tuple[str, str]:
    """``(K xor ipad, K xor opad)`` in hex (RFC 2104), K being the key padded to one block."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key).hex(), bytes(b ^ 0x5C for b in key).hex()


def session_options(key: bytes) -> list[str]:
    """libpq ``-c`` options that give a session the key blocks ``restricted.pseudonym`` reads."""
    inner, outer = key_blocks(key)
    return [f"-c cdw.pseudonym_ipad={inner}", f"-c cdw.pseudonym_opad={outer}"]
