"""Admin keys (the Admins table), stored as the SHA-256 of the key, which is also the item's key."""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist

from drcaptcha.models.tables.admins import AdminItem


@dataclass(frozen=True)
class StoredAdmin:
    name: str
    key_hash: str


class AdminStore:
    def add(self, key_hash: str, name: str, created_at: float) -> None:
        """Store a new key's hash (keys are random, so an existing hash is a bug: pynamodb's PutError is raised)."""
        AdminItem(key_hash, name=name, created_at=created_at).save(condition=AdminItem.key_hash.does_not_exist())

    def get(self, key_hash: str) -> StoredAdmin | None:
        try:
            item = AdminItem.get(key_hash)
        except DoesNotExist:
            return None
        return StoredAdmin(name=item.name, key_hash=item.key_hash)
