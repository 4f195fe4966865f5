"""File operations confined below a directory on a head-node; stdlib only.

Sent as `python3 -c <source> <request-json>` (data on stdin, the answer on stdout) by
`Transport.confined`; `LocalTransport` calls `execute` in-process. One implementation for both.

A request names a trusted `base` directory (a host path, e.g. the root-fs base) and `parts`,
the path components below it. The walk opens every component with
`O_DIRECTORY | O_NOFOLLOW` relative to the previous directory's descriptor, and the final
operation is relative to the last one (`openat`, `renameat`, `unlinkat`, `fchmod` on an
`O_NOFOLLOW` descriptor): a directory swapped for a symbolic link at any moment makes the
operation fail instead of following it out of the base. Nothing is ever opened by path name.

Ops: read, hash, stat, ls, put, mkdir, chmod, rename, rm, symlink. A failure is
`Failure(kind, path, reason)`, kind one of missing | refused | invalid | conflict | io; the
script prints it as one JSON line on stderr and exits 1.
"""

import contextlib
import hashlib
import json
import os
import re
import secrets
import stat
import sys

# A write's temp file (`.<name>.tmp-<8 hex>`) untouched this long (by the head-node's clock)
# was left by a write that died; the next write to the same directory removes it. The one
# definition of a temp name: transports, scans and sync use these.
STALE_TEMP_AGE = 60.0
TEMP_NAME = re.compile(r"^\..+\.tmp-[0-9a-f]{8}$")
ASIDE_NAME = re.compile(r"^\..+\.removing-[0-9a-f]{8}$")
DEFAULT_LIMIT = 64 << 20  # read: larger files are refused, not loaded
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# opening a FIFO or a device must neither block nor make it our terminal
_ANY = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
_KINDS = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "link"}
_DESCRIBED = {
    stat.S_IFDIR: "directory",
    stat.S_IFLNK: "symbolic link",
    stat.S_IFIFO: "FIFO",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFSOCK: "socket",
}


class Failure(Exception):
    def __init__(self, kind, path, reason):
        joint = " " if reason.startswith(("is ", "was ", "exists ")) else ": "
        super().__init__(f"{path}{joint}{reason}" if path else reason)
        self.kind, self.path, self.reason = kind, path, reason


def temp_name(name):
    """A fresh hidden name for writing `name` before the rename."""
    return f".{name}.tmp-{secrets.token_hex(4)}"


def is_temp(name):
    return TEMP_NAME.match(name) is not None


def aside_name(name):
    """Where a tree is renamed before it is deleted (a crash leaves it under this name)."""
    return f".{name}.removing-{secrets.token_hex(4)}"


def is_leftover(name):
    """A crashed write's temp file or a crashed removal's tree: never part of the content."""
    return is_temp(name) or ASIDE_NAME.match(name) is not None


def stale_temps(mtimes, now):
    """The temp files among a directory's {name: mtime} older than STALE_TEMP_AGE before
    `now` (the mtime of the file just written)."""
    return [n for n, mtime in mtimes.items() if is_temp(n) and mtime < now - STALE_TEMP_AGE]


def kind_of(mode):
    return _KINDS.get(stat.S_IFMT(mode), "other")


def described(mode):
    """What a non-regular file is, for a refusal."""
    return _DESCRIBED.get(stat.S_IFMT(mode), "special file")


class Walk:
    """Directory descriptors from `base` down to the parent of the last part."""

    def __init__(self, base, parts, create=None, exist=0):
        """`create`: the mode of missing directories to make (None: missing is a Failure),
        except the first `exist` parts, which must be there."""
        for part in parts:
            if not part or part in (".", "..") or "/" in part or "\0" in part:
                raise Failure("invalid", "/".join(parts), "invalid path component")
        if not parts:
            raise Failure("invalid", "", "empty path")
        self.parts = parts
        self.name = parts[-1]
        self.path = "/".join(parts)
        self.fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # trusted
        for depth in range(1, len(parts)):
            make = None if depth <= exist else create
            self.fd = self.step(self.fd, parts[depth - 1], depth, make)  # closes the old one

    def shown(self, depth):
        return "/".join(self.parts[:depth])

    def step(self, fd, part, depth, create):
        """The descriptor of directory `part` in `fd` (created with mode `create` when
        missing and `create` is set); `fd` is closed."""
        try:
            try:
                return os.open(part, _DIR, dir_fd=fd)
            except FileNotFoundError:
                if create is None:
                    raise Failure(
                        "missing", self.shown(depth), "No such file or directory"
                    ) from None
                return make_dir(fd, part, create)
            except OSError:
                raise not_a_dir(fd, part, self.shown(depth)) from None
        finally:
            os.close(fd)

    def lstat(self, name=None):
        try:
            return os.stat(name or self.name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def open(self, flags=_ANY, name=None):
        """The last part opened without following a link (a link: refused)."""
        try:
            return os.open(name or self.name, flags, dir_fd=self.fd)
        except FileNotFoundError:
            raise Failure("missing", self.path, "No such file or directory") from None
        except OSError as error:
            st = self.lstat(name)
            if st is not None and stat.S_ISLNK(st.st_mode):
                raise Failure("refused", self.path, "is a symbolic link; refused") from None
            raise error

    def close(self):
        os.close(self.fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def walk_of(request, create=None, parts=None):
    parts = request["parts"] if parts is None else parts
    return Walk(request["base"], parts, create, request.get("exist", 0))


def make_dir(fd, part, mode):
    with contextlib.suppress(FileExistsError):  # made meanwhile, or a link: the open decides
        os.mkdir(part, mode, dir_fd=fd)
    try:
        new = os.open(part, _DIR, dir_fd=fd)
    except OSError:
        raise not_a_dir(fd, part, part) from None
    return new


def not_a_dir(fd, part, shown):
    try:
        st = os.stat(part, dir_fd=fd, follow_symlinks=False)
    except OSError:
        return Failure("missing", shown, "No such file or directory")
    if stat.S_ISLNK(st.st_mode):
        return Failure("refused", shown, "is a symbolic link; refused")
    return Failure("invalid", shown, "is not a directory")


def entry(name, st, fd):
    kind = kind_of(st.st_mode)
    return {
        "name": name,
        "kind": kind,
        "mode": stat.S_IMODE(st.st_mode),
        "size": st.st_size,
        "mtime": st.st_mtime,
        "target": os.readlink(name, dir_fd=fd) if kind == "link" else None,
    }


def read_regular(fd, path, limit):
    """The content of an open file: only a regular file, at most `limit` bytes."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise Failure("invalid", path, f"is a {described(st.st_mode)}, not a regular file")
    if st.st_size > limit:
        raise Failure("invalid", path, f"is {st.st_size} bytes, more than the limit {limit}")
    chunks, size = [], 0
    while chunk := os.read(fd, 1 << 20):
        size += len(chunk)
        if size > limit:  # grew while being read
            raise Failure("invalid", path, f"is more than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def current_digest(walk):
    """sha256 of the last part, None when it is missing."""
    try:
        fd = walk.open()
    except Failure as failure:
        if failure.kind == "missing":
            return None
        raise
    try:
        return hashlib.sha256(read_regular(fd, walk.path, DEFAULT_LIMIT)).hexdigest()
    finally:
        os.close(fd)


# -- the ops -------------------------------------------------------------------------------


def op_read(request, data):
    flags = _ANY & ~os.O_NOFOLLOW if request.get("follow_last") else _ANY
    with walk_of(request) as walk:
        fd = walk.open(flags)
        try:
            return read_regular(fd, walk.path, request.get("limit", DEFAULT_LIMIT))
        finally:
            os.close(fd)


def op_hash(request, data):
    try:
        with walk_of(request) as walk:
            return {"sha256": current_digest(walk)}
    except Failure as failure:
        if failure.kind == "missing":
            return {"sha256": None}
        raise


def op_stat(request, data):
    with walk_of(request) as walk:
        try:
            st = os.stat(
                walk.name, dir_fd=walk.fd, follow_symlinks=bool(request.get("follow_last"))
            )
        except FileNotFoundError:
            return None
        return entry(walk.name, st, walk.fd)


def op_ls(request, data):
    with walk_of(request) as walk:
        fd = walk.open(_DIR)
        try:
            found = []
            for name in sorted(os.listdir(fd)):
                try:
                    found.append(entry(name, os.stat(name, dir_fd=fd, follow_symlinks=False), fd))
                except FileNotFoundError:
                    continue  # removed meanwhile
            return found
        finally:
            os.close(fd)


def op_put(request, data):
    """Write atomically: a temp file made with O_EXCL|O_NOFOLLOW in the last directory,
    renamed over the last part. `mode` None keeps the old file's mode (`new_mode`, else 0644,
    for a new one);
    `expect` (a sha256, or "" for absent) refuses when the current copy is another one."""
    with walk_of(request, 0o755) as walk:
        st = walk.lstat()
        if st is not None and stat.S_ISLNK(st.st_mode):
            raise Failure("refused", walk.path, "is a symbolic link; refused")
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise Failure("invalid", walk.path, f"is a {described(st.st_mode)}, not a file")
        if "expect" in request:
            now = current_digest(walk) or ""
            if now != request["expect"]:
                found = now[:12] or "absent"
                raise Failure("conflict", walk.path, f"changed (now {found})")
        mode = request.get("mode")
        if mode is None:
            mode = stat.S_IMODE(st.st_mode) if st else request.get("new_mode", 0o644)
        tmp = temp_name(walk.name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(tmp, flags, 0o600, dir_fd=walk.fd)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
            os.rename(tmp, walk.name, src_dir_fd=walk.fd, dst_dir_fd=walk.fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=walk.fd)
            raise
        os.fsync(walk.fd)
        remove_stale_temps(walk)
        return {"size": len(data), "mode": mode}


def remove_stale_temps(walk):
    mtimes = {}
    for name in os.listdir(walk.fd):
        if is_temp(name) or name == walk.name:
            try:
                mtimes[name] = os.stat(name, dir_fd=walk.fd, follow_symlinks=False).st_mtime
            except FileNotFoundError:
                continue
    for name in stale_temps(mtimes, mtimes.get(walk.name, 0.0)):
        with contextlib.suppress(FileNotFoundError):  # another writer removed it first
            os.unlink(name, dir_fd=walk.fd)


def op_mkdir(request, data):
    """Create the directory and its missing parents; a new leaf gets exactly `mode`."""
    mode = request.get("mode", 0o755)
    with walk_of(request, 0o755) as walk:
        created = True
        try:
            os.mkdir(walk.name, 0o700, dir_fd=walk.fd)
        except FileExistsError:
            created = False
        fd = walk.open(_DIR)
        try:
            if created or request.get("chmod"):
                os.fchmod(fd, mode)
        finally:
            os.close(fd)
        return {"created": created}


def op_chmod(request, data):
    with walk_of(request) as walk:
        st = walk.lstat()
        if st is None:
            raise Failure("missing", walk.path, "No such file or directory")
        if stat.S_ISLNK(st.st_mode):
            raise Failure("refused", walk.path, "is a symbolic link; refused")
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            raise Failure("invalid", walk.path, f"is a {described(st.st_mode)}")
        fd = walk.open()
        try:
            if stat.S_IFMT(os.fstat(fd).st_mode) != stat.S_IFMT(st.st_mode):
                raise Failure("conflict", walk.path, "was replaced meanwhile")
            os.fchmod(fd, request["mode"])
        finally:
            os.close(fd)
        return {}


def op_rename(request, data):
    """Rename within the base (a link is renamed, never followed); refuses to replace."""
    with walk_of(request) as src:
        if src.lstat() is None:
            raise Failure("missing", src.path, "No such file or directory")
        with walk_of(request, 0o755, request["dst"]) as dst:
            if dst.lstat() is not None:
                raise Failure("refused", dst.path, "exists already")
            os.rename(src.name, dst.name, src_dir_fd=src.fd, dst_dir_fd=dst.fd)
            os.fsync(dst.fd)
        os.fsync(src.fd)
        return {}


def op_symlink(request, data):
    """Make the last part a link to `target` (replacing a link or file there, atomically)."""
    with walk_of(request, 0o755) as walk:
        st = walk.lstat()
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise Failure("invalid", walk.path, "is a directory")
        tmp = temp_name(walk.name)
        os.symlink(request["target"], tmp, dir_fd=walk.fd)
        try:
            os.rename(tmp, walk.name, src_dir_fd=walk.fd, dst_dir_fd=walk.fd)
        except BaseException:
            os.unlink(tmp, dir_fd=walk.fd)
            raise
        return {}


def op_rm(request, data):
    """Remove a file or link (never what it points at), or a directory tree: refused when
    something is mounted at or below it; renamed aside first, then deleted through
    descriptors, never leaving its file system."""
    with walk_of(request) as walk:
        st = walk.lstat()
        if st is None:
            return {"removed": None}
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(walk.name, dir_fd=walk.fd)
            return {"removed": kind_of(st.st_mode)}
        fd = walk.open(_DIR)
        try:
            real = os.readlink(f"/proc/self/fd/{fd}")
            busy = [m for m in mounts() if m == real or m.startswith(real.rstrip("/") + "/")]
            if busy:
                raise Failure("refused", walk.path, f"{busy[0]} is mounted there; refused")
            device = os.fstat(fd).st_dev
        finally:
            os.close(fd)
        aside = aside_name(walk.name)
        os.rename(walk.name, aside, src_dir_fd=walk.fd, dst_dir_fd=walk.fd)
        remove_tree_at(walk.fd, aside, device, walk.path)
        return {"removed": "dir"}


def remove_tree_at(parent, name, device, shown):
    fd = os.open(name, _DIR, dir_fd=parent)
    try:
        if os.fstat(fd).st_dev != device:
            raise Failure("refused", shown, "another file system is mounted below it; refused")
        for child in os.listdir(fd):
            st = os.stat(child, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                remove_tree_at(fd, child, device, shown)
            else:
                os.unlink(child, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent)


def mounts():
    try:
        with open("/proc/self/mountinfo") as file:
            fields = [line.split(" ")[4] for line in file]
    except OSError:
        return []
    unescape = re.compile(r"\\([0-7]{3})")
    return [unescape.sub(lambda m: chr(int(m.group(1), 8)), x) for x in fields]


OPS = {
    "read": op_read,
    "hash": op_hash,
    "stat": op_stat,
    "ls": op_ls,
    "put": op_put,
    "mkdir": op_mkdir,
    "chmod": op_chmod,
    "rename": op_rename,
    "symlink": op_symlink,
    "rm": op_rm,
}
MUTATING = frozenset({"put", "mkdir", "chmod", "rename", "symlink", "rm"})


def execute(request, data=b""):
    """Run one request; bytes for `read`, JSON text for the others. Raises only Failure."""
    parts = request.get("parts")
    shown = "/".join(parts) if isinstance(parts, list) else ""
    try:
        result = OPS[request["op"]](request, data)
    except Failure:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise Failure("invalid", shown, f"bad request: {error!r}") from None
    except OSError as error:
        raise Failure("io", shown, error.strerror or str(error)) from None
    return result if isinstance(result, bytes) else json.dumps(result).encode()


def main(argv):
    try:
        request = json.loads(argv[0])
        data = sys.stdin.buffer.read() if request.get("op") == "put" else b""
        out = execute(request, data)
    except Failure as failure:
        reply = {"kind": failure.kind, "path": failure.path, "reason": failure.reason}
        print(json.dumps(reply), file=sys.stderr)
        return 1
    except (IndexError, ValueError) as error:
        print(json.dumps({"kind": "invalid", "path": "", "reason": repr(error)}), file=sys.stderr)
        return 1
    sys.stdout.buffer.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
