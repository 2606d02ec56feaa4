"""The HTTP API (`memfs serve`): Anthropic's memory stores endpoints over the store API."""

from .app import check_bind, create_app, is_loopback, serve

__all__ = ["create_app", "serve", "check_bind", "is_loopback"]
