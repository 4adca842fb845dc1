"""Secrets for sinks: referenced by environment variable or file, never written in the config text.

A `SecretRef` is what the config holds (the *name* of a variable or the path
of a file); `resolve()` reads the value at start-up into a `Secret`, whose
repr and str never show it. Errors name the reference and the config path,
never the value.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from monitor.configreader import Section

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MAX_SECRET_FILE_BYTES = 64 * 1024
NOT_SHOWN = "the value is not shown"


class SecretError(ValueError):
    """A secret reference that cannot be resolved; the message names the reference, not the value."""


class Secret:
    """A value that must not reach logs, metrics, exceptions or reprs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a secret lives: an environment variable or a file (exactly one)."""

    env: str | None = None
    file: str | None = None
    where: str = ""

    def describe(self) -> str:
        return f"environment variable {self.env}" if self.env else f"file {self.file}"

    def resolve(self) -> Secret:
        if self.env:
            value = os.environ.get(self.env)
            if value is None or not value.strip():
                raise SecretError(f"{self.where}: environment variable {self.env} is not set or empty")
            return Secret(value.strip())
        if self.file:
            path = Path(self.file)
            try:
                with path.open("rb") as handle:
                    data = handle.read(MAX_SECRET_FILE_BYTES + 1)
            except OSError as exc:
                raise SecretError(f"{self.where}: cannot read file {self.file}: {exc.strerror}") from None
            if len(data) > MAX_SECRET_FILE_BYTES:
                raise SecretError(f"{self.where}: file {self.file} is larger than {MAX_SECRET_FILE_BYTES} bytes")
            try:
                text = data.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise SecretError(f"{self.where}: file {self.file} is not UTF-8 text") from None
            if not text:
                raise SecretError(f"{self.where}: file {self.file} is empty")
            return Secret(text)
        raise SecretError(f"{self.where}: no secret reference")


def valid_env_name(name: str) -> bool:
    return bool(_ENV_NAME.match(name))


def env_references(template: str) -> list[str]:
    """The `${NAME}` variables a header value template refers to."""
    return _ENV_REFERENCE.findall(template)


def expand(template: str, where: str) -> Secret:
    """Replace every `${NAME}` in a header value with the variable's value."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        value = os.environ.get(name)
        if value is None:
            raise SecretError(f"{where}: environment variable {name} is not set")
        return value

    value = _ENV_REFERENCE.sub(substitute, template)
    if "\r" in value or "\n" in value:
        raise SecretError(f"{where}: header value contains a line break")
    return Secret(value)


def reject_literal_secret(entry: Section, keys: tuple[str, ...], instead: str) -> None:
    """A secret written into the config itself is an error that does not repeat it."""
    for key in keys:
        if key in entry.data:
            entry._read.add(key)
            entry.error(key, f"secrets are not written in the config; put it in an environment variable or a file "
                             f"and name it with {instead} ({NOT_SHOWN})")


def secret_ref(entry: Section, stem: str, *, required: bool) -> SecretRef | None:
    """`<stem>_env` or `<stem>_file`: where a secret lives, checked without reading it."""
    env_key, file_key = f"{stem}_env", f"{stem}_file"
    env = entry.string(env_key) or None
    file = entry.string(file_key) or None
    if env and file:
        entry.error(env_key, f"give {env_key} or {file_key}, not both")
        return None
    if env is None and file is None:
        if required:
            entry.error(env_key, f"required (or {file_key})")
        return None
    if env is not None and not valid_env_name(env):
        entry.error(env_key, "must be an environment variable name (letters, digits, '_')")
        return None
    if file is not None and "://" in file:
        # Someone pasted the secret itself where its file belongs: refuse without repeating it.
        entry.error(file_key, f"must be the path of a file holding the secret, not the secret ({NOT_SHOWN})")
        return None
    key = env_key if env else file_key
    return SecretRef(env=env, file=file, where=entry.where(key))
