"""Credentials kept between CLI runs: per house, the accounts logged in and the current one.

``credentials.json`` in the config dir (``AUCTIONHOUSE_CONFIG_DIR``, else the platform's user
config dir) holds ``{"houses": {URL: {"current": NAME, "accounts": {NAME: {"token",
"expires_at", "key_file"}}}}}``. It is written atomically with mode 0600 and refused when others
may read it. Key files default to ``keys/HOST_PORT/NAME.pem`` in the same dir.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auctionhouse.client.keys import check_private_mode
from auctionhouse.errors import ConfigError, Unauthorized

CREDENTIALS = "credentials.json"


def config_dir() -> Path:
    override = os.environ.get("AUCTIONHOUSE_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("auctionhouse", appauthor=False))


def house_slug(house: str) -> str:
    """``http://127.0.0.1:8000`` -> ``127.0.0.1_8000`` (a directory name)."""
    bare = house.split("://", 1)[-1]
    return re.sub(r"[^A-Za-z0-9.-]+", "_", bare).strip("_") or "house"


def default_key_path(house: str, account: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", account) or "account"
    return config_dir() / "keys" / house_slug(house) / f"{safe}.pem"


@dataclass(frozen=True, slots=True)
class Profile:
    house: str
    account: str
    token: str | None
    key_file: str | None
    expires_at: float | None = None


class Credentials:
    """The credentials file of one config dir."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or config_dir()
        self.path = self.directory / CREDENTIALS

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"houses": {}}
        check_private_mode(self.path, "credentials file")
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {self.path}: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("houses"), dict):
            raise ConfigError(f"{self.path} is not an auctionhouse credentials file")
        return data

    def _write(self, data: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(f".{CREDENTIALS}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def get(self, house: str, account: str | None = None) -> Profile | None:
        """The profile of ``account`` (default: the house's current one), if any."""
        entry = self._read()["houses"].get(house) or {}
        name = account or entry.get("current")
        if not name:
            return None
        stored = (entry.get("accounts") or {}).get(name)
        if stored is None:
            return None if account is None else Profile(house, name, None, None)
        return Profile(
            house, name, stored.get("token"), stored.get("key_file"), stored.get("expires_at")
        )

    def require(self, house: str, account: str | None = None) -> Profile:
        profile = self.get(house, account)
        if profile is None or profile.token is None:
            who = f"account {account!r}" if account else "no account"
            raise Unauthorized(
                f"{who} is logged in to {house}: run auctionhouse login NAME --house {house}"
            )
        return profile

    def forget_token(self, house: str, account: str) -> None:
        """Drop the stored token of ``account`` (logged out); its key file stays associated."""
        data = self._read()
        stored = ((data["houses"].get(house) or {}).get("accounts") or {}).get(account)
        if stored is None:
            return
        stored["token"] = None
        stored["expires_at"] = None
        self._write(data)

    def save(self, profile: Profile, *, make_current: bool = True) -> None:
        data = self._read()
        entry = data["houses"].setdefault(profile.house, {"accounts": {}})
        entry.setdefault("accounts", {})[profile.account] = {
            "token": profile.token,
            "key_file": profile.key_file,
            "expires_at": profile.expires_at,
        }
        if make_current or not entry.get("current"):
            entry["current"] = profile.account
        self._write(data)
