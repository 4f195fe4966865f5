"""Switch a chroot's release sources: a step of a release-upgrade job; stdlib only.

Sent as `python3 -c <source> ROOT FILE OLD NEW` (a plan step: the job runner runs it on the
head-node, after the clone is made) and imported by the tests. In the file FILE (a path inside
the chroot ROOT) every OLD becomes NEW. Every directory on the way is opened with
`O_DIRECTORY | O_NOFOLLOW` relative to the previous one and the file with `O_NOFOLLOW`: a
symbolic link anywhere (the chroot's own `/etc/apt` pointing out of it) fails the step instead
of being followed onto the head-node. The new text is written to a temp file beside it and
renamed over it (the file's mode kept). A file that names NEW and no OLD is left as it is (a
rerun after a failed upgrade); one that names neither fails the step.
"""

import contextlib
import os
import stat
import sys

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
LIMIT = 1 << 20  # an apt sources file is small; anything bigger is not one


class Refusal(Exception):
    pass


def switched(text, old, new):
    """`text` with every `old` replaced by `new`, and how many there were."""
    return text.replace(old, new), text.count(old)


def switch(root, file, old, new):
    """Do it; returns the line to log. Raises Refusal (or OSError) when it cannot."""
    parts = [p for p in file.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise Refusal(f"{file}: not a plain path inside the chroot")
    fd = os.open(root, _DIR)
    try:
        for part in parts[:-1]:
            try:
                next_fd = os.open(part, _DIR, dir_fd=fd)
            except OSError as error:
                reason = f"{error.strerror} (a symbolic link is not followed)"
                raise Refusal(f"{file}: {part}: {reason}") from None
            os.close(fd)
            fd = next_fd
        return _switch_in(fd, parts[-1], file, old, new)
    finally:
        os.close(fd)


def _switch_in(dir_fd, name, file, old, new):
    try:
        fd = os.open(name, _FILE, dir_fd=dir_fd)
    except OSError as error:
        raise Refusal(f"{file}: cannot open: {error.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > LIMIT:
            raise Refusal(f"{file}: not a regular file of at most {LIMIT} bytes")
        text = os.read(fd, LIMIT + 1).decode("utf-8", "surrogateescape")
    finally:
        os.close(fd)
    result, count = switched(text, old, new)
    if not count:
        if new in text:
            return f"{file} names {new!r} already: left as it is"
        raise Refusal(f"{file} does not contain {old!r}: cannot switch it to {new!r}")
    tmp = f".{name}.qlutui-{os.getpid()}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    out = os.open(tmp, flags, 0o600, dir_fd=dir_fd)
    try:
        try:
            view = memoryview(result.encode("utf-8", "surrogateescape"))
            while view:
                view = view[os.write(out, view) :]
            os.fsync(out)
            os.fchmod(out, stat.S_IMODE(st.st_mode))
        finally:
            os.close(out)
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    return f"{file}: {count} x {old!r} -> {new!r}"


def main(argv):
    try:
        print(switch(*argv), flush=True)
    except (Refusal, OSError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        print(f"qlutui: release sources not switched: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
