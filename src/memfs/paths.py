"""Path and name rules (as Anthropic's memory stores define them), NFC, slugs."""

import re
import unicodedata

from .errors import InvalidName, NameTooLong

MAX_PATH_BYTES = 1024
MAX_NAME_BYTES = 255
MAX_STORE_NAME = 255


def _bad_char(ch: str) -> bool:
    # control (Cc) and format (Cf) characters are refused anywhere in a path or store name
    return unicodedata.category(ch) in ("Cc", "Cf")


def check_name(name: str) -> str:
    """One path component: NFC, 1..255 bytes, no '/', NUL, control chars, not '.' or '..'."""
    if isinstance(name, bytes):
        try:
            name = name.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidName("file names must be valid UTF-8")
    name = unicodedata.normalize("NFC", name)
    if name in ("", ".", ".."):
        raise InvalidName(f"invalid name {name!r}: empty, '.' and '..' are not allowed")
    if "/" in name:
        raise InvalidName(f"invalid name {name!r}: '/' is not allowed in a name")
    if any(_bad_char(c) for c in name):
        raise InvalidName(f"invalid name {name!r}: control characters are not allowed")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise NameTooLong(f"name is longer than {MAX_NAME_BYTES} bytes: {name[:40]!r}...")
    return name


def normalize(path: str) -> str:
    """Canonical store path: '/' for the root, else '/a/b' (NFC, no empty/./.. segments)."""
    if isinstance(path, bytes):
        try:
            path = path.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidName("paths must be valid UTF-8")
    if not isinstance(path, str):
        raise InvalidName(f"path must be a string, not {type(path).__name__}")
    path = unicodedata.normalize("NFC", path)
    if path in ("", "/"):
        return "/"
    if not path.startswith("/"):
        path = "/" + path
    parts = path[1:].split("/")
    if parts and parts[-1] == "":  # a trailing slash names the same directory
        parts.pop()
    for p in parts:
        if p in ("", ".", ".."):
            raise InvalidName(f"invalid path {path!r}: empty, '.' and '..' segments are not allowed")
        check_name(p)
    out = "/" + "/".join(parts)
    if len(out.encode("utf-8")) > MAX_PATH_BYTES:
        raise NameTooLong(f"path is longer than {MAX_PATH_BYTES} bytes")
    return out


def split(path: str) -> tuple[str, str]:
    """'/a/b/c' -> ('/a/b', 'c'); '/a' -> ('/', 'a')."""
    head, _, tail = path.rpartition("/")
    return (head or "/"), tail


def join(parent: str, name: str) -> str:
    return ("" if parent == "/" else parent) + "/" + name


def components(path: str) -> list[str]:
    return [] if path == "/" else path[1:].split("/")


def check_store_name(name: str) -> str:
    if not isinstance(name, str):
        raise InvalidName("store name must be a string")
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise InvalidName("store name must not be empty")
    if len(name) > MAX_STORE_NAME:
        raise NameTooLong(f"store name is longer than {MAX_STORE_NAME} characters")
    if any(_bad_char(c) for c in name):
        raise InvalidName(f"invalid store name {name!r}: control characters are not allowed")
    if ":" in name:
        # ':' separates STORE from PATH on the command line (memfs cat STORE:PATH)
        raise InvalidName(f"invalid store name {name!r}: ':' is not allowed")
    if name.startswith("memstore_"):
        raise InvalidName("store names may not start with 'memstore_' (that prefix is for ids)")
    return name


def slug(name: str) -> str:
    """As Anthropic mounts /mnt/memory/<slug>/: lowercased, runs of other characters -> '-'."""
    s = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return s or "store"
