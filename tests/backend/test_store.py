"""The TOML state store against real files, real processes and a real full filesystem."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from qlutui.backend.store import HISTORY_KEEP, Store, Watch
from qlutui.errors import ConfigError, ConflictError, QlutuiError

IMAGES = """\
# Qlustar OS images (edited by hand, too).

[images.Standard-noble]   # compute nodes
flavour = "noble"
version   = "13.1"        # aligned by hand
modules = [
    "core",   # always
    "slurm",
]
"""


def set_version(version: str):
    def mutate(doc) -> None:
        doc["images"]["Standard-noble"]["version"] = version

    return mutate


def increment(doc) -> None:
    doc["n"] = doc.get("n", 0) + 1


@pytest.fixture
def store(tmp_path: Path) -> Store:
    state = tmp_path / "state"
    state.mkdir()
    (state / "images.toml").write_text(IMAGES)
    return Store(state)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*.tmp-*"))


def test_missing_file_loads_empty_and_first_edit_creates_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "new-state")
    snap = store.load("chroots")
    assert (snap.area, snap.path, snap.data, snap.token) == (
        "chroots",
        tmp_path / "new-state" / "chroots.toml",
        {},
        "",
    )
    new = store.edit("chroots", snap.token, increment)
    assert new.data == {"n": 1}
    assert (tmp_path / "new-state" / "chroots.toml").read_text() == "n = 1\n"
    assert new.token == hashlib.sha256(b"n = 1\n").hexdigest()
    assert store.history("chroots") == []  # nothing existed before: nothing to keep
    assert (tmp_path / "new-state" / "chroots.toml").stat().st_mode & 0o777 == 0o644


def test_load_returns_data_and_sha256_token(store: Store) -> None:
    snap = store.load("images")
    assert snap.data["images"]["Standard-noble"]["modules"] == ["core", "slurm"]
    assert snap.token == hashlib.sha256(IMAGES.encode()).hexdigest()


def test_edit_keeps_comments_and_layout(store: Store) -> None:
    snap = store.load("images")
    new = store.edit("images", snap.token, set_version("13.2"))
    assert snap.path.read_text() == IMAGES.replace('version   = "13.1"', 'version   = "13.2"')
    assert new.data["images"]["Standard-noble"]["version"] == "13.2"
    assert new.token == hashlib.sha256(snap.path.read_bytes()).hexdigest()
    assert store.load("images") == new


def test_second_edit_from_a_stale_snapshot_is_a_conflict(store: Store) -> None:
    first = store.load("images")
    second = store.load("images")
    store.edit("images", first.token, set_version("13.2"))
    saved = first.path.read_bytes()
    with pytest.raises(ConflictError) as err:
        store.edit("images", second.token, set_version("12"))
    assert str(err.value) == (
        "images.toml was changed by someone else since it was loaded; reload and try again"
    )
    assert first.path.read_bytes() == saved
    assert len(store.history("images")) == 1


def test_a_missing_file_created_meanwhile_is_a_conflict(tmp_path: Path) -> None:
    store = Store(tmp_path)
    snap = store.load("rootfs")
    (tmp_path / "rootfs.toml").write_text("# made by hand\n")
    with pytest.raises(ConflictError):
        store.edit("rootfs", snap.token, increment)
    assert (tmp_path / "rootfs.toml").read_text() == "# made by hand\n"


def test_concurrent_updates_from_several_processes_lose_nothing(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        from qlutui.backend.store import Store
        store = Store({str(tmp_path)!r})
        def increment(doc):
            doc["n"] = doc.get("n", 0) + 1
        for _ in range(50):
            store.update("inventory", increment)
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(4)]
    try:
        codes = [p.wait(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert codes == [0, 0, 0, 0]
    assert Store(tmp_path).load("inventory").data == {"n": 200}
    assert leftovers(tmp_path) == []


def test_history_keeps_the_last_versions_newest_first(store: Store) -> None:
    for i in range(HISTORY_KEEP + 5):
        store.update("images", set_version(f"13.{i}"))
    history = store.history("images")
    assert HISTORY_KEEP == 20
    assert len(history) == 20
    assert len(list(store.history_dir.iterdir())) == 20
    assert history == sorted(history, key=lambda p: p.name, reverse=True)
    assert all(p.name.startswith("images.toml.") and p.name.endswith("Z") for p in history)
    # newest entry = the version before the last edit; oldest kept = after edit 4
    assert 'version   = "13.23"' in history[0].read_text()
    assert 'version   = "13.4"' in history[-1].read_text()
    assert 'version   = "13.24"' in store.path("images").read_text()


def test_unchanged_document_is_not_rewritten(store: Store) -> None:
    before = store.path("images").stat()
    snap = store.edit("images", store.load("images").token, lambda doc: None)
    assert snap == store.load("images")
    assert store.path("images").stat().st_ino == before.st_ino
    assert store.history("images") == []


def test_failing_mutation_writes_nothing(store: Store) -> None:
    def broken(doc) -> None:
        doc["images"]["Standard-noble"]["version"] = "99"
        raise RuntimeError("validation failed")

    with pytest.raises(RuntimeError):
        store.update("images", broken)
    assert store.path("images").read_text() == IMAGES
    assert store.history("images") == []
    assert leftovers(store.state_dir) == []


def test_file_mode_is_kept(store: Store) -> None:
    store.path("images").chmod(0o600)
    store.update("images", set_version("14"))
    assert store.path("images").stat().st_mode & 0o777 == 0o600


def test_malformed_file_reports_line_and_column_and_is_never_overwritten(store: Store) -> None:
    path = store.path("images")
    path.write_text('[images.a]\nflavour = "noble"\nversion = 13.1.1\n')
    before = path.read_bytes()
    expected = f"{path}:3:15: Expected newline or end of document after a statement"
    with pytest.raises(ConfigError) as err:
        store.load("images")
    assert str(err.value) == expected
    with pytest.raises(ConfigError) as err:
        store.update("images", set_version("1"))
    assert str(err.value) == expected
    assert path.read_bytes() == before
    assert store.history("images") == []
    assert leftovers(store.state_dir) == []


def test_error_at_end_of_document_gets_a_position(store: Store) -> None:
    path = store.path("images")
    path.write_text("a = 1\nb = [1,")
    with pytest.raises(ConfigError) as err:
        store.load("images")
    assert str(err.value) == f"{path}:2:8: Invalid value"


def test_invalid_utf8_reports_its_position(store: Store) -> None:
    path = store.path("images")
    path.write_bytes(b'a = 1\nb = "caf\xe9"\n')
    with pytest.raises(ConfigError) as err:
        store.load("images")
    assert str(err.value) == f"{path}:2:9: not valid UTF-8 text"


def test_stale_temp_files_of_dead_writers_are_cleaned(store: Store) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    live = subprocess.Popen(["sleep", "60"])
    try:
        stale = store.state_dir / f"images.toml.tmp-{dead_pid}"
        busy = store.state_dir / f"images.toml.tmp-{live.pid}"
        other_area = store.state_dir / f"inventory.toml.tmp-{dead_pid}"
        for p in (stale, busy, other_area):
            p.write_text("half written")
        store.update("images", set_version("14"))
        assert not stale.exists()
        assert busy.exists()  # its writer may still be working
        assert other_area.exists()  # cleaned under the inventory lock, by the next edit there
    finally:
        live.kill()
        live.wait()


def test_edit_waits_a_bounded_time_for_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "images.toml.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time\n"
            f"f = open({str(lock)!r}, 'w'); fcntl.flock(f, fcntl.LOCK_EX)\n"
            "print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        store = Store(tmp_path, lock_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(ConflictError) as err:
            store.update("images", increment)
        assert time.monotonic() - started >= 0.5  # it waited for the lock (no upper bound)
        assert str(err.value) == "images.toml is locked by another process"
        assert not (tmp_path / "images.toml").exists()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert store.update("images", increment).data == {"n": 1}  # free again


def test_unknown_area_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown state area 'image'"):
        Store(tmp_path).load("image")


def test_ensure_dir_and_jobs_dir(tmp_path: Path) -> None:
    store = Store(tmp_path / "a" / "state")
    assert store.jobs_dir == tmp_path / "a" / "state" / "jobs"
    store.ensure_dir()
    assert store.jobs_dir.is_dir()


def test_load_never_imports_tomlkit(tmp_path: Path) -> None:
    """load() costs only a tomllib parse: tomlkit is not even imported."""
    (tmp_path / "inventory.toml").write_text('[[hosts]]\nname = "beo-01"\n' * 1000)
    code = (
        "import sys; from qlutui.backend.store import Store\n"
        f"snap = Store({str(tmp_path)!r}).load('inventory')\n"
        "assert len(snap.data['hosts']) == 1000\n"
        "print('tomlkit' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "False\n"


@pytest.fixture
def small_fs(tmp_path: Path):
    """A real 64 KiB tmpfs (needs root); skipped where mounting is not allowed."""
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_full_disk_keeps_the_previous_content(small_fs: Path) -> None:
    store = Store(small_fs)
    store.path("images").write_text(IMAGES)
    snap = store.load("images")

    def grow(doc) -> None:
        doc["images"]["Standard-noble"]["description"] = "x" * 200_000

    with pytest.raises(QlutuiError) as err:
        store.edit("images", snap.token, grow)
    assert str(err.value) == "cannot save images.toml: No space left on device"
    assert store.path("images").read_text() == IMAGES
    assert leftovers(small_fs) == []
    assert store.history("images") == []
    # once there is room again, the same edit succeeds
    store.edit("images", snap.token, set_version("13.9"))
    assert store.load("images").data["images"]["Standard-noble"]["version"] == "13.9"


def test_state_files_are_plain_files_in_the_state_dir(store: Store) -> None:
    store.update("images", set_version("2"))
    names = sorted(os.listdir(store.state_dir))
    assert names == [".history", "images.toml", "images.toml.lock"]


def test_watch_tells_a_change_made_elsewhere_not_a_save_of_its_own(store: Store) -> None:
    watch = Watch(store, ["images", "inventory"])
    assert watch.changed() == []  # nothing marked yet
    watch.mark()
    path = store.path("images")
    path.write_bytes(path.read_bytes())  # rewritten with the same bytes: no change
    assert watch.changed() == []
    other = Store(store.state_dir)  # another process: the CLI, another admin
    other.update("images", set_version("14"))
    assert watch.changed() == ["images.toml"]
    assert watch.changed() == []  # told once
    own = store.edit("images", store.load("images").token, set_version("15"))
    watch.mark({"images": own.token})
    assert watch.changed() == []
    other.update("inventory", increment)  # a file missing when marked, created elsewhere
    assert watch.changed() == ["inventory.toml"]


def test_watch_tells_a_line_appended_to_a_log_without_reading_it(store: Store) -> None:
    log = store.state_dir / "audit.log"
    watch = Watch(store, [], logs=[log])
    watch.mark()  # no log yet
    log.write_text("first\n")
    assert watch.changed() == ["audit.log"]
    with log.open("a") as f:
        f.write("second\n")
    assert watch.changed() == ["audit.log"]
    assert watch.changed() == []  # told once
