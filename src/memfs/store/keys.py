"""API keys of the HTTP server: create, list, revoke, authenticate (only a secret's hash is kept)."""

from __future__ import annotations

import json
import secrets
import time
from typing import Optional

from .. import errors, paths
from .records import ApiKey, Identity, sha256


class KeysMixin:
    """API keys of the HTTP server."""

    def create_api_key(self, *, stores: Optional[dict] = None, all_stores: Optional[str] = None,
                       name: Optional[str] = None, identity: Optional[Identity] = None) -> tuple[ApiKey, str]:
        """A key for the HTTP API. Only the secret's SHA-256 is kept.

        :param stores: store names or ids -> "ro" or "rw"
        :param all_stores: "ro" or "rw" for every store, present and future ("rw" may also create
            stores)
        :param name: a label (default: the key's id)
        :param identity: who creates it (recorded as `created_by`)
        :returns: (the ApiKey, its secret): the secret exists only here

        Raises InvalidInput (no store, a bad mode or name), StoreNotFound."""
        scopes = {}
        for ref, mode in (stores or {}).items():
            if mode not in ("ro", "rw"):
                raise errors.InvalidInput(f"access to {ref} must be ro or rw, not {mode!r}")
            scopes[self.get_store(ref).uid] = mode
        if all_stores not in (None, "ro", "rw"):
            raise errors.InvalidInput(f"access to all stores must be ro or rw, not {all_stores!r}")
        if not scopes and all_stores is None:
            raise errors.InvalidInput("a key needs at least one store (NAME=ro|rw) or access to all stores")
        kid = "apikey_" + secrets.token_hex(8)
        name = name or kid
        if not isinstance(name, str) or not 1 <= len(name) <= 255 or any(paths._bad_char(c) for c in name):
            raise errors.InvalidInput("a key name is 1-255 characters without control characters")
        secret = "sk-memfs-" + secrets.token_urlsafe(32)
        ident = identity or self.identity
        with self.db.write() as tx:
            tx.run("INSERT INTO api_keys (id, name, secret_sha256, scopes, all_stores, created_at, created_by)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (kid, name, sha256(secret.encode()), json.dumps(scopes), all_stores, time.time(), ident.agent))
            return ApiKey._from(tx.one("SELECT * FROM api_keys WHERE id = ?", (kid,))), secret

    def api_keys(self, include_revoked: bool = True) -> list[ApiKey]:
        """The API keys (never their secrets), oldest first.

        :param include_revoked: include revoked keys
        :returns: a list of ApiKey"""
        rows = self.db.all("SELECT * FROM api_keys ORDER BY created_at, id")
        keys = [ApiKey._from(r) for r in rows]
        return keys if include_revoked else [k for k in keys if k.revoked_at is None]

    def revoke_api_key(self, key_id: str) -> ApiKey:
        """Revoke a key; requests with it fail from now on. Revoking twice is harmless.

        :param key_id: the key's id or name
        :returns: the revoked ApiKey

        Raises NotFound."""
        with self.db.write() as tx:
            r = tx.one("SELECT * FROM api_keys WHERE id = ? OR name = ? ORDER BY created_at LIMIT 1", (key_id, key_id))
            if r is None:
                raise errors.NotFound(f"no such API key: {key_id!r}")
            tx.run("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", (time.time(), r["id"]))
            return ApiKey._from(tx.one("SELECT * FROM api_keys WHERE id = ?", (r["id"],)))

    def authenticate(self, secret: str) -> Optional[ApiKey]:
        """The live key with this secret.

        :param secret: what a client sent
        :returns: the ApiKey, or None (unknown or revoked)"""
        if not isinstance(secret, str) or not secret:
            return None
        r = self.db.one("SELECT * FROM api_keys WHERE secret_sha256 = ? AND revoked_at IS NULL",
                        (sha256(secret.encode("utf-8", "surrogateescape")),))
        return ApiKey._from(r) if r else None

    def revoked_api_key(self, secret: str) -> Optional[ApiKey]:
        """The revoked key with this secret, or None: to tell its holder why it no longer works."""
        if not isinstance(secret, str) or not secret:
            return None
        r = self.db.one("SELECT * FROM api_keys WHERE secret_sha256 = ? AND revoked_at IS NOT NULL",
                        (sha256(secret.encode("utf-8", "surrogateescape")),))
        return ApiKey._from(r) if r else None

    def has_api_keys(self) -> bool:
        """Whether any live API key exists (a server without one answers only localhost)."""
        return self.db.one("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1") is not None
