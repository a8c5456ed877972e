"""Secrets from the orchestrator's secrets file, asked for over the SDK socket (never from the environment)."""

from __future__ import annotations

from pit_sdk._socket import request

__all__ = ["get_secret", "get_secret_field"]


def get_secret(key: str) -> str:
    """The secret `key` (project scope, then `[global]`); a structured secret comes as compact sorted JSON.

    Example:
        >>> password = get_secret("smtp_password")  # doctest: +SKIP
    """
    return request("get_secret", {"key": key})


def get_secret_field(secret: str, field: str) -> str:
    """One field of the structured secret `secret`.

    Example:
        >>> host = get_secret_field("warehouse_db", "host")  # doctest: +SKIP
    """
    return request("get_secret_field", {"secret": secret, "field": field})
