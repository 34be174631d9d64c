"""Backup storage: each backup is a directory ``<data-dir>/backups/<backup-id>/``.

It holds ``token/``, a consistent copy of one HSM token of the cluster (SoftHSM keeps every object encrypted
under the token's key, so nothing in it is plaintext key material, as in AWS where backups are encrypted inside
the HSM), and ``users.json``, the cluster's HSM users (names, roles, salted password hashes, and the keys each owns
with whom each is shared: the ownership of the token's key objects). A directory is
written under a temporary name and renamed into place, so a backup is either whole or absent.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from hsmsim.hsm import SoftHSM


class BackupVault:
    def __init__(self, root: Path, hsm: SoftHSM) -> None:
        self.root = root
        self._hsm = hsm
        root.mkdir(parents=True, exist_ok=True)

    def path(self, backup_id: str) -> Path:
        return self.root / backup_id

    def exists(self, backup_id: str) -> bool:
        return (self.path(backup_id) / "token").is_dir()

    def backup_ids(self) -> set[str]:
        return {p.name for p in self.root.iterdir() if p.is_dir() and not p.name.endswith(".partial")}

    def take(self, backup_id: str, token_serial: str, users: list[dict[str, Any]]) -> None:
        """Snapshot token ``token_serial`` and the users into backup ``backup_id``."""
        partial = self.root / f"{backup_id}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        try:
            self._hsm.snapshot(token_serial, partial / "token")
            (partial / "users.json").write_text(json.dumps(users))
            partial.rename(self.path(backup_id))
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise

    def copy(self, source_id: str, destination_id: str) -> None:
        partial = self.root / f"{destination_id}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            shutil.copytree(self.path(source_id), partial)
            partial.rename(self.path(destination_id))
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise

    def restore_token(self, backup_id: str, label: str) -> str:
        """A new token whose contents are the backup's; returns its serial."""
        return self._hsm.restore(self.path(backup_id) / "token", label)

    def users(self, backup_id: str) -> list[dict[str, Any]]:
        return json.loads((self.path(backup_id) / "users.json").read_text())

    def discard(self, backup_id: str) -> None:
        shutil.rmtree(self.path(backup_id), ignore_errors=True)

    def clear(self) -> None:
        for child in self.root.iterdir():
            shutil.rmtree(child, ignore_errors=True)
