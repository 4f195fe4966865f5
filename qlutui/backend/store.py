"""The state directory: one TOML file per area, read fast, written safely.

`load` parses with `tomllib` only; a big file's data is also kept as JSON in `.cache/` keyed
by the file's sha256 (a 3 MB inventory: 0.4 s with tomllib, 20 ms from the cache); every parse
runs with the collector paused (`gc_paused`: it makes a big file's load linear). `edit` locks the
area, checks the file is still the one the caller loaded (sha256 token), re-parses just that
file with `tomlkit` so the admin's comments and layout survive, and replaces it atomically,
keeping the previous version in `.history/`. A malformed file is reported with path, line and
column and is never overwritten.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import re
import sys
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qlutui.errors import ConfigError, ConflictError, QlutuiError
from qlutui.idle_gc import gc_paused

if TYPE_CHECKING:
    import tomlkit

    from qlutui.backend.audit import AuditHook

AREAS = frozenset({"inventory", "catalog", "images", "chroots", "sshfiles", "rootfs", "files"})
HISTORY_KEEP = 20
HISTORY_STAMP = "%Y%m%dT%H%M%S.%fZ"  # .history/<file>.<UTC time of the replacement>
CACHE_MIN = 256 * 1024  # files this big get their parsed data cached as JSON
DOC_KEEP_MAX = 1024 * 1024  # edit keeps the tomlkit document of files up to this size
LOCK_TIMEOUT = 10.0
_LOCK_POLL = 0.01

_AT_LINE = re.compile(r"^(?P<reason>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$", re.S)
_AT_END = re.compile(r"^(?P<reason>.*) \(at end of document\)$", re.S)
_DIGITS = re.compile(r"[0-9][0-9_]*")


Signature = tuple[int, int, int]


def file_signature(path: Path | str) -> Signature:
    """(mtime, size, inode) of a file: it changes whenever the file is rewritten in place or
    replaced, so data derived from the file can be reused while it stays the same."""
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


def _signature(path: Path) -> Signature | None:
    try:
        return file_signature(path)
    except FileNotFoundError:
        return None


def parse_toml(path: Path | str, raw: bytes) -> dict[str, Any]:
    """Parse TOML bytes with tomllib; any problem is a ConfigError "path:line:col: reason"."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _position(raw[: exc.start])
        raise ConfigError(f"{path}:{line}:{col}: not valid UTF-8 text") from None
    try:
        with gc_paused():
            return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_decode_message(path, text, str(exc))) from None
    except RecursionError:  # tomllib recurses once per level of nested arrays and tables
        raise ConfigError(f"{path}: arrays or tables nested too deeply") from None
    except ValueError:  # int() refuses more than sys.get_int_max_str_digits() digits
        raise ConfigError(_huge_number_message(path, text)) from None


def _huge_number_message(path: Path | str, text: str) -> str:
    limit = sys.get_int_max_str_digits()
    for match in _DIGITS.finditer(text):
        digits = match.group().replace("_", "")
        if limit and len(digits) > limit:
            line, col = _position(text[: match.start()])
            return f"{path}:{line}:{col}: number too long ({len(digits):,} digits)"
    return f"{path}: a number tomllib cannot read"


def _position(before: bytes | str) -> tuple[int, int]:
    """1-based line and column of the character that follows `before`."""
    newline = b"\n" if isinstance(before, bytes) else "\n"
    return before.count(newline) + 1, len(before) - (before.rfind(newline) + 1) + 1


def _decode_message(path: Path | str, text: str, message: str) -> str:
    # tomllib (3.11) exposes the position only inside its message text.
    if m := _AT_LINE.match(message):
        return f"{path}:{m['line']}:{m['col']}: {m['reason']}"
    if m := _AT_END.match(message):
        line, col = _position(text)
        return f"{path}:{line}:{col}: {m['reason']}"
    return f"{path}: {message}"


def _token(raw: bytes | None) -> str:
    return "" if raw is None else hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """One area as read: `data` from tomllib, `token` to detect a concurrent change."""

    area: str
    path: Path
    data: dict[str, Any]
    token: str


Mutation = Callable[["tomlkit.TOMLDocument"], None]


class Store:
    def __init__(
        self,
        state_dir: str | Path,
        *,
        lock_timeout: float = LOCK_TIMEOUT,
        audit: AuditHook | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.lock_timeout = lock_timeout
        self.audit = audit  # told of every saved change: ("state.edit", file name, summary)
        # told (from the thread that waits) when an edit has to wait for another process's
        # lock on a file; the TUI shows "waiting for <file> lock ..."
        self.on_wait: Callable[[str], None] | None = None
        # area -> (token, tomlkit document, data) as last saved by this Store: the next edit
        # of an unchanged file skips tomlkit's parse (0.17 s for 500 images).
        self._docs: dict[str, tuple[str, Any, dict[str, Any]]] = {}

    @property
    def jobs_dir(self) -> Path:
        return self.state_dir / "jobs"

    @property
    def history_dir(self) -> Path:
        return self.state_dir / ".history"

    def ensure_dir(self) -> None:
        """Create the state directory and its jobs directory if missing."""
        self.jobs_dir.mkdir(parents=True, exist_ok=True)

    def path(self, area: str) -> Path:
        if area not in AREAS:
            raise ValueError(f"unknown state area {area!r} (known: {', '.join(sorted(AREAS))})")
        return self.state_dir / f"{area}.toml"

    def load(self, area: str) -> Snapshot:
        """Read an area; a missing file is empty data with token ""."""
        path = self.path(area)
        raw = _read(path)
        if raw is None:
            return Snapshot(area, path, {}, "")
        token = _token(raw)
        return Snapshot(area, path, self._parse_cached(path, raw, token), token)

    def token(self, area: str) -> str:
        """The conflict token of an area's file as it is now, without parsing it (a
        malformed file has one too: restoring a good version is how it gets mended)."""
        return _token(_read(self.path(area)))

    def signature(self, area: str) -> Signature | None:
        """`file_signature` of an area's file; None while there is none."""
        return _signature(self.path(area))

    def _parse_cached(self, path: Path, raw: bytes, token: str) -> dict[str, Any]:
        """`parse_toml` of a state file; a big file's data comes from `.cache/<file>.json`
        when that was written for the same content (first line: the sha256 token)."""
        if len(raw) < CACHE_MIN:
            return parse_toml(path, raw)
        cache = self.state_dir / ".cache" / f"{path.name}.json"
        with suppress(OSError, ValueError):
            head, _, body = cache.read_bytes().partition(b"\n")
            if head.decode() == token:
                with gc_paused():
                    return json.loads(body)
        data = parse_toml(path, raw)
        try:
            text = json.dumps(data, ensure_ascii=False)
        except TypeError:  # TOML dates and times have no JSON form: no cache
            return data
        with suppress(OSError):  # a read-only state directory just goes without the cache
            cache.parent.mkdir(exist_ok=True)
            tmp = cache.with_name(f"{cache.name}.tmp-{os.getpid()}")
            tmp.write_bytes(f"{token}\n{text}".encode())
            os.replace(tmp, cache)
        return data

    @contextmanager
    def _current(self, area: str, token: str | None) -> Iterator[tuple[Path, bytes | None]]:
        """Under the area's lock (waited for up to `lock_timeout`, told to `on_wait`): the
        file's path and content, refused with ConflictError when it is no longer the one
        `token` names (None: no check); temp files left by a crashed save are removed."""
        path = self.path(area)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with _Lock(path.with_name(path.name + ".lock"), self.lock_timeout, self.on_wait):
            self._clean_stale_temps(path.name)
            raw = _read(path)
            _check_token(path, token, raw)
            yield path, raw

    def edit(
        self, area: str, token: str | None, mutate: Mutation, *, summary: str | None = None
    ) -> Snapshot:
        """Apply `mutate` to the area's tomlkit document and save it; returns the new Snapshot.

        `token` is the one of the Snapshot the change was based on (ConflictError if the file
        changed since); None skips that check. Nothing is written when `mutate` raises or
        leaves the document unchanged. `summary` is what the audit trail says (default: the
        entries added, changed and removed).
        """
        import tomlkit  # deferred: load() and read-only CLI verbs never pay for it

        with self._current(area, token) as (path, raw):
            kept = self._docs.pop(area, None)  # a failed mutate must not leave it half-changed
            if kept is not None and kept[0] == _token(raw):
                _, doc, old_data = kept
            else:
                old_data = {} if raw is None else parse_toml(path, raw)  # refuses malformed files
                with gc_paused():
                    doc = tomlkit.parse("" if raw is None else raw.decode("utf-8"))
            mutate(doc)
            new = doc.as_string().encode("utf-8")
            if new == (raw or b""):
                self._keep(area, raw or b"", doc, old_data)
                return Snapshot(area, path, old_data, _token(raw))
            try:
                with gc_paused():
                    data = tomllib.loads(new.decode("utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise QlutuiError(
                    f"refusing to save {path.name}: the change is not valid TOML ({exc})"
                ) from None
            self._save(path, raw, new)
            self._keep(area, new, doc, data)
            if self.audit:
                from qlutui.backend.audit import describe_change

                self.audit("state.edit", path.name, summary or describe_change(old_data, data))
            return Snapshot(area, path, data, _token(new))

    def rewrite(
        self,
        area: str,
        token: str | None,
        change: Callable[[str, dict[str, Any]], str | None],
        expect: Callable[[dict[str, Any], dict[str, Any]], bool],
        *,
        summary: str,
    ) -> Snapshot | None:
        """Replace the area's file by `change(its text, its data)`, done on the text: a big edit
        (a bulk add, an image set on a range of a 10,000-host inventory) without tomlkit
        parsing and writing the whole file. Locked, conflict checked, atomic, kept in history
        and audited like `edit`. Saved only when the result parses and `expect(old data,
        new data)` holds (the text means what the caller meant); otherwise, or when `change`
        returns None, nothing is written and None is returned (then use `edit`)."""
        with self._current(area, token) as (path, raw):
            old_data = {} if raw is None else self._parse_cached(path, raw, _token(raw))
            text = change("" if raw is None else raw.decode("utf-8"), old_data)
            if text is None:
                return None
            new = text.encode("utf-8")
            try:
                with gc_paused():
                    data = tomllib.loads(text)
            except tomllib.TOMLDecodeError:
                return None
            if not expect(old_data, data):
                return None
            self._save(path, raw, new)
            self._docs.pop(area, None)  # a kept document would lack the change
            if self.audit:
                self.audit("state.edit", path.name, summary)
            return Snapshot(area, path, data, _token(new))

    def restore(self, area: str, token: str | None, version: Path) -> Snapshot:
        """Put a saved previous version (from `history`) back in place: a conflict-checked,
        audited edit like any other, so the version it replaces goes to `.history/` too."""
        content = version.read_bytes()
        data = parse_toml(version, content)  # a version that does not parse is not restored
        with self._current(area, token) as (path, raw):
            if content == (raw or b""):
                return Snapshot(area, path, data, _token(raw))
            self._save(path, raw, content)
            self._docs.pop(area, None)
            if self.audit:
                self.audit("state.restore", path.name, f"restored {version.name}")
            return Snapshot(area, path, data, _token(content))

    def _keep(self, area: str, content: bytes, doc: Any, data: dict[str, Any]) -> None:
        if len(content) <= DOC_KEEP_MAX:
            self._docs[area] = (_token(content), doc, data)

    def update(self, area: str, mutate: Mutation) -> Snapshot:
        """Load and edit under one lock (no conflict check): for one-shot CLI verbs."""
        return self.edit(area, None, mutate)

    # An edit may wait LOCK_TIMEOUT seconds for another process's lock: async code (a job's
    # completion hook, a service method the TUI awaits) edits through these, in a thread.
    async def edit_async(self, area: str, token: str | None, mutate: Mutation) -> Snapshot:
        return await asyncio.to_thread(self.edit, area, token, mutate)

    async def update_async(self, area: str, mutate: Mutation) -> Snapshot:
        return await asyncio.to_thread(self.edit, area, None, mutate)

    def history(self, area: str) -> list[Path]:
        """Saved previous versions of an area, newest first."""
        name = self.path(area).name
        if not self.history_dir.is_dir():
            return []
        found = [p for p in self.history_dir.glob(f"{name}.*") if ".tmp-" not in p.name]
        return sorted(found, key=lambda p: p.name, reverse=True)

    def _save(self, path: Path, old: bytes | None, new: bytes) -> None:
        mode = path.stat().st_mode & 0o7777 if old is not None else 0o644
        written: list[Path] = []
        try:
            tmp = _write_temp(path, new, mode, written)
            if old is not None:
                self.history_dir.mkdir(exist_ok=True)
                stamp = datetime.now(UTC).strftime(HISTORY_STAMP)
                entry = self.history_dir / f"{path.name}.{stamp}"
                os.replace(_write_temp(entry, old, mode, written), entry)
                _fsync_dir(self.history_dir)
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except OSError as exc:
            for leftover in written:
                leftover.unlink(missing_ok=True)
            raise QlutuiError(f"cannot save {path.name}: {exc.strerror or exc}") from None
        for stale in self.history(path.stem)[HISTORY_KEEP:]:
            stale.unlink(missing_ok=True)

    def _clean_stale_temps(self, name: str) -> None:
        """Remove temp files of this area whose writer process is gone (it crashed)."""
        for directory in (self.state_dir, self.history_dir):
            for tmp in directory.glob(f"{name}*.tmp-*"):
                pid = tmp.name.rpartition(".tmp-")[2]
                if pid.isdigit() and not _alive(int(pid)):
                    tmp.unlink(missing_ok=True)


class Watch:
    """Whether the files a screen shows changed on disk since it loaded them: a stat per file
    at each check. A state file whose stat changed is read and hashed (its conflict token),
    never parsed, so a rewrite with the same content is no change; a log (`logs`: the audit
    trail, only ever appended to) is not read: its stat is its content."""

    def __init__(self, store: Store, areas: Iterable[str], logs: Iterable[Path] = ()) -> None:
        self.store = store
        self.areas = tuple(areas)
        self.logs = tuple(logs)
        self._seen: dict[str | Path, tuple[Signature | None, str]] = {}  # -> (stat, content)
        # changes seen while the screen kept an edit in progress: due at its next reload
        self.held: list[str] = []

    def mark(self, tokens: Mapping[str, str] | None = None) -> None:
        """The files as they are now are the ones shown (called before a load reads them);
        `tokens`: what a save of the screen's own returned, so a change made elsewhere just
        before it is not taken as seen."""
        self._seen, self.held = {}, []
        for area in self.areas:
            if tokens is not None and area in tokens:
                self._seen[area] = (None, tokens[area])  # hashed again at the next check
            else:
                signature = self.store.signature(area)
                self._seen[area] = (signature, self.store.token(area))
        for log in self.logs:
            signature = _signature(log)
            self._seen[log] = (signature, repr(signature))

    def changed(self) -> list[str]:
        """The file names (`images.toml`) whose content is no longer the one marked; each is
        marked as seen again. Nothing before the first `mark`."""
        changed = []
        for item, (signature, content) in self._seen.items():
            now = self._stat(item)
            if now == signature:
                continue
            new = self.store.token(item) if isinstance(item, str) else repr(now)
            self._seen[item] = (now, new)
            if new != content:
                changed.append(self.store.path(item).name if isinstance(item, str) else item.name)
        return changed

    def _stat(self, item: str | Path) -> Signature | None:
        return self.store.signature(item) if isinstance(item, str) else _signature(item)


class _Lock:
    """An exclusive flock on a lock file, waiting at most `timeout` seconds."""

    def __init__(
        self, path: Path, timeout: float, on_wait: Callable[[str], None] | None = None
    ) -> None:
        self.path = path
        self.timeout = timeout
        self.on_wait = on_wait

    def __enter__(self) -> None:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                name = self.path.name.removesuffix(".lock")
                if time.monotonic() >= deadline:
                    os.close(self.fd)
                    raise ConflictError(f"{name} is locked by another process") from None
                if self.on_wait is not None:
                    self.on_wait(name)
                    self.on_wait = None  # told once per wait
                time.sleep(_LOCK_POLL)

    def __exit__(self, *exc_info: object) -> None:
        os.close(self.fd)  # closing the descriptor releases the flock


def _check_token(path: Path, token: str | None, raw: bytes | None) -> None:
    """ConflictError unless the file is still the one loaded with `token` (None: no check)."""
    if token is not None and token != _token(raw):
        raise ConflictError(
            f"{path.name} was changed by someone else since it was loaded; reload and try again",
            changed=path.name,
        )


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write_temp(target: Path, data: bytes, mode: int, written: list[Path]) -> Path:
    """Write `data` durably to `<target>.tmp-<pid>` (recorded in `written`) and return it."""
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    written.append(tmp)
    with open(fd, "wb") as f:
        os.fchmod(fd, mode)  # the umask must not narrow the file's mode
        f.write(data)
        f.flush()
        os.fsync(fd)
    return tmp


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        pass
    return True
