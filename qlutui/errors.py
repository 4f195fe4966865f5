"""The exceptions every layer raises for a refused or failed action.

`str(error)` is the one-line message shown to the user: on stderr by the CLI (exit 1),
in a notification or an error dialog by the TUI.
"""


class QlutuiError(Exception):
    """Base class: a one-line, user-facing reason."""


class InvalidInput(QlutuiError):
    """A name, value, key line or argument that is not acceptable."""


class ConfigError(QlutuiError):
    """config.toml or a state file cannot be used ("path:line:col: reason")."""


class ConflictError(QlutuiError):
    """A state file was changed by someone else since it was loaded (`changed`: its name;
    empty when the conflict is another one: a lock held too long, a remote file)."""

    def __init__(self, message: str, changed: str = "") -> None:
        super().__init__(message)
        self.changed = changed


class TransportError(QlutuiError):
    """A head-node cannot be reached, refuses us, or a remote operation failed."""


class Refused(QlutuiError):
    """A rule forbids the action (image in use, core module, job running ...)."""
