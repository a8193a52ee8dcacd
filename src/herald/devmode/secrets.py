"""Secrets ``herald dev`` makes once and keeps under ``./.herald/`` so that a restart
keeps the same API key, token signing key and VAPID key pair."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import SecretStr

from herald.config import DEV_JWT_SECRET, Settings

DEV_ADMIN_EMAIL = "admin@example.com"


def _kept(path: Path, make: str) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(make)
    path.chmod(0o600)
    return make


def generate_vapid_pem() -> str:
    from py_vapid import Vapid02

    vapid = Vapid02()
    vapid.generate_keys()
    pem: bytes = vapid.private_pem()
    return pem.decode()


def private_home(home: Path) -> None:
    """Keep ``home`` to this user: the databases there hold every address, API key hash
    and message, and SQLite makes its files as the umask says (0644, commonly)."""
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    os.umask(0o077)  # herald dev's own process: every file it makes is private
    for path in home.iterdir():
        if path.is_file():
            path.chmod(0o600)


def with_dev_secrets(settings: Settings) -> Settings:
    home = settings.home
    private_home(home)
    update: dict[str, object] = {}
    if settings.jwt_secret.get_secret_value() == DEV_JWT_SECRET:
        update["jwt_secret"] = SecretStr(_kept(home / "jwt_secret", secrets.token_urlsafe(48)))
    if settings.bootstrap_api_key is None:
        from herald.services.gateway.keys import generate

        update["bootstrap_api_key"] = SecretStr(_kept(home / "api_key", generate()))
    if settings.bootstrap_admin_email is None:
        # The console's sign-in, printed by the banner and kept like the API key.
        update["bootstrap_admin_email"] = DEV_ADMIN_EMAIL
        update["bootstrap_admin_password"] = SecretStr(
            _kept(home / "admin_password", secrets.token_urlsafe(12))
        )
    if settings.vapid_private_key is None:
        update["vapid_private_key"] = SecretStr(
            _kept(home / "vapid_private.pem", generate_vapid_pem())
        )
    return settings.model_copy(update=update)
