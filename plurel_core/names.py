"""Safe file names from user-given table and column names.

Names come from user input (a DDL upload, a config) and end up as file names inside a ZIP and on
disk. :func:`safe_name` maps one name to a string that is a plain file name on Linux, macOS and
Windows: no path separators, no ``..``, no control characters, no characters Windows refuses,
no reserved device names (``CON``, ``NUL``, ``COM1`` ...), no leading dot, bounded length.
Unicode letters and digits are kept (NFC-normalised). :func:`unique_safe_names` maps a list of
names to safe names that stay distinct even on case-insensitive file systems. The real names are
kept everywhere else (SQL identifiers, metadata), so nothing is lost.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

MAX_NAME_BYTES = 120  # leaves room for a suffix (".parquet") under the usual 255-byte limit

_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"COM{i}" for i in range(10)] + [f"LPT{i}" for i in range(10)]
    + [f"COM{c}" for c in "¹²³"] + [f"LPT{c}" for c in "¹²³"]
)
# Anything that is not a letter, digit, underscore, hyphen or dot becomes "_".
_UNSAFE = re.compile(r"[^\w.\-]", flags=re.UNICODE)
_DOTS = re.compile(r"\.{2,}")
_UNDERSCORES = re.compile(r"_{2,}")


def _short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def _truncate_utf8(text: str, max_bytes: int) -> str:
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    return raw[:max_bytes].decode("utf-8", "ignore")


def safe_name(name: str, *, max_bytes: int = MAX_NAME_BYTES) -> str:
    """A safe, non-empty file name (without extension) for ``name``.

    Safe names of ordinary identifiers are the identifiers themselves (``table_0`` stays
    ``table_0``). Changed names get a short hash of the original appended, so two different
    hostile names rarely meet; :func:`unique_safe_names` guarantees distinctness.
    """
    original = str(name)
    text = unicodedata.normalize("NFC", original)
    # Control and format characters (category C*), separators and anything non-word -> "_".
    text = "".join("_" if unicodedata.category(ch)[0] == "C" else ch for ch in text)
    text = _UNSAFE.sub("_", text)
    text = _DOTS.sub("_", text)
    text = _UNDERSCORES.sub("_", text)
    text = text.strip(" .")  # Windows drops trailing dots and spaces; a leading dot hides a file
    if text.startswith("-"):
        text = "_" + text  # not mistaken for a command-line option
    if not text or set(text) <= {"_"}:
        text = "_"
    if text.split(".")[0].upper() in _WINDOWS_RESERVED:
        text = "_" + text
    if text != original or len(text.encode("utf-8")) > max_bytes:
        # "_" + 8 hex digits; the result is a fixed point: safe_name(safe_name(x)) == safe_name(x)
        base = "" if text == "_" else _truncate_utf8(text, max_bytes - 9).rstrip("_")
        text = f"{base}_{_short_hash(original)}"
    return text


def unique_safe_names(names: Iterable[str], *, max_bytes: int = MAX_NAME_BYTES) -> dict[str, str]:
    """Map each distinct name to a safe name; the safe names are distinct ignoring case.

    The mapping is deterministic for a given sequence of names. Collisions (rare: two names
    whose safe form and hash agree case-insensitively) get a numeric suffix in input order.
    """
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        if name in out:
            continue
        candidate = safe_name(name, max_bytes=max_bytes)
        base, k = candidate, 1
        while candidate.casefold() in taken:
            k += 1
            candidate = f"{_truncate_utf8(base, max_bytes - 1 - len(str(k))).rstrip('_')}_{k}"
        taken.add(candidate.casefold())
        out[name] = candidate
    return out


def is_safe_name(name: str) -> bool:
    """True when ``name`` is already a safe file name (what :func:`safe_name` leaves unchanged)."""
    return safe_name(name) == name
