"""The UnionFS chroots service: what the Chroots screen and `qlutui chroots` both call.

Builds, clones, renames and removals are Jobs (docs/architecture.md, "Jobs") whose plans run
detached on the chroot's head-node under the lock `<chroots_base>/.qlutui-locks/<name>.lock`,
so one job works on a chroot at a time, also across qlutui processes; an interactive shell
(`shell_command`) holds the same lock while it runs, and removal, rename and clone probe it up
front (`check_unlocked`). Trees are made in
`<path>.partial` and renamed into place only on success; on failure or Kill the partial tree
is removed (unless the builder has `keep_failed`) and the chroot is marked failed.

chroots.toml says "building" while a build, clone or rename runs; the completion hook
(`register_hooks`, run live or when the job is re-attached) sets ready/failed. `load()`
applies the same hook to a "building" chroot whose job ended without it (e.g. finished while
no process with hooks followed it), so the file never stays "building" for an ended job.

Every name passes `check_name` before it reaches a path or a command; every path is
`<chroots_base>/<name>`: a record whose path is anything else (hand-edited) is refused by every
operation and reported by `qlutui check` (`misplaced`), nothing touched. A tree with something
mounted at or below it is never removed or copied (a clone must not copy a bind-mounted /proc
or an NFS share), and the copy itself stays on one file system. A rename moves the tree
(rename(2) within `<chroots_base>`: same file system, nothing copied).
"""

from __future__ import annotations

import asyncio
import posixpath
import re
import shlex
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any

import tomlkit

from qlutui.backend import release_sources
from qlutui.backend.cluster import Cluster
from qlutui.backend.config import ReleaseSources
from qlutui.backend.job_records import ERRORS, SUCCESS, JobRecord, Plan, phrase
from qlutui.backend.jobs import Job, JobManager
from qlutui.backend.transport import Transport, parse_mountinfo
from qlutui.errors import InvalidInput, QlutuiError, Refused
from qlutui.model.catalog import Catalog
from qlutui.model.chroots import (
    Chroot,
    check_removable,
    chroot_path,
    chroot_problem,
    chroots_from_dict,
    misplaced,
)
from qlutui.model.images import Image, images_from_dict
from qlutui.model.names import check_line, check_name, no_such, shown
from qlutui.model.versions import parse_version

CREATE, CLONE, RENAME, REMOVE, RUN, ADD_TASKS, RELEASE = (
    "chroots.create",
    "chroots.clone",
    "chroots.rename",
    "chroots.remove",
    "chroots.run",
    "chroots.add-tasks",
    "chroots.release-upgrade",
)
KINDS = (CREATE, CLONE, RENAME, REMOVE, RUN, ADD_TASKS, RELEASE)
LOCKS = ".qlutui-locks"
PARTIAL = ".partial"
# The head-node's apt sources: the builder's {mirror} is the first archive URI found there.
APT_SOURCES = ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list")
_URI = re.compile(r"^\s*(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+://\S+)", re.M)
PROBE_TIMEOUT = 60.0
LOCK_EXIT = "75"  # flock's exit status when the chroot's lock is held by another process
LOCK_HOLDERS = "a shell in it or a job holds its lock"  # who may hold it, for refusals
# The ready-made actions of `run_action`: their argv steps, run one after the other.
ACTIONS: dict[str, list[list[str]]] = {
    "upgrade": [["apt-get", "update"], ["apt-get", "-y", "full-upgrade"]],
    "clean": [["apt-get", "clean"]],
}
DOING = {"upgrade": "Upgrading", "clean": "Cleaning"}  # the job titles of ACTIONS
# A private mount namespace for what follows: the builder's mounts (mmdebstrap mounts /proc,
# /sys and /dev below the tree it builds) and a run's never show on the head-node and vanish
# with the namespace's last process, however it ends.
PRIVATE = ["unshare", "--mount", "--propagation", "private", "--"]
POLICY_RC = "/usr/sbin/policy-rc.d"
POLICY_MARK = "# qlutui: no service starts while a command runs in this chroot"
# Runs a command inside a chroot, as `sh -c INSIDE qlutui-chroot <root> <argv>...` under
# `unshare --mount --propagation private`: every mount is made in that private namespace, so
# the head-node's own mount table never sees it and it is gone when the last process of the
# run ends, however the run ends. /dev is a fresh tmpfs with a few nodes (never the host's
# /dev, which a removal could follow). The script is a constant: the root and argv reach it
# only as positional parameters, never as shell text.
INSIDE = f"""set -eu
root=$1; shift
for dir in "$root" "$root/proc" "$root/sys" "$root/dev" "$root/usr/sbin"; do
  if [ -L "$dir" ] || [ ! -d "$dir" ]; then
    echo "qlutui: refusing to run: $dir is not a directory (or is a symbolic link)" >&2
    exit 2
  fi
done
policy=$root{POLICY_RC}
mark='{POLICY_MARK}'
if [ -L "$policy" ]; then
  echo "qlutui: refusing to run: $policy is a symbolic link" >&2
  exit 2
fi
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
mount -t tmpfs -o nosuid,mode=0755,size=1m qlutui-dev "$root/dev"
mknod -m 0666 "$root/dev/null" c 1 3
mknod -m 0666 "$root/dev/zero" c 1 5
mknod -m 0666 "$root/dev/full" c 1 7
mknod -m 0666 "$root/dev/random" c 1 8
mknod -m 0666 "$root/dev/urandom" c 1 9
mknod -m 0666 "$root/dev/tty" c 5 0
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
mkdir "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
mount -t tmpfs -o nosuid,nodev shm "$root/dev/shm"
printf '#!/bin/sh\\n%s\\nexit 101\\n' "$mark" > "$root/dev/policy-rc.d"
chmod 0755 "$root/dev/policy-rc.d"
if [ -e "$policy" ]; then
  mount --bind "$root/dev/policy-rc.d" "$policy"
else
  cp "$root/dev/policy-rc.d" "$policy"
  trap 'grep -qxF "$mark" "$policy" 2>/dev/null && rm -f "$policy"' EXIT
  trap 'exit 143' TERM INT HUP
fi
export DEBIAN_FRONTEND=noninteractive LC_ALL=C HOME=/root
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
set +e
chroot "$root" "$@"
rc=$?
exit $rc
"""
# The interactive shell inside a chroot: bash when the chroot has it, else sh.
SHELL = ["/bin/sh", "-c", "[ -x /bin/bash ] && exec /bin/bash -i; exec /bin/sh -i"]
# After a Kill (the script's own trap may not have run): remove the policy-rc.d the run wrote
# when it is still ours.
DROP_POLICY = f"""p=$1
if [ ! -L "$p" ] && [ -f "$p" ] && grep -qxF '{POLICY_MARK}' "$p"; then rm -f "$p"; fi
"""


@dataclass(frozen=True)
class ChrootsState:
    """Everything the dialog shows, as loaded; `token` is chroots.toml's."""

    chroots: dict[str, Chroot]  # sorted by name
    token: str
    images: dict[str, Image]
    catalog: Catalog

    def chroot(self, name: str) -> Chroot:
        try:
            return self.chroots[name]
        except KeyError:
            raise InvalidInput(no_such("chroot", name)) from None

    def users(self, name: str) -> list[str]:
        """The images that use the chroot, sorted."""
        return sorted(i.name for i in self.images.values() if i.chroot == name)


@dataclass(frozen=True)
class Probe:
    """What is on the head-node: `present`, the tree's size in bytes, or why not."""

    present: bool
    size: int | None = None
    problem: str = ""  # e.g. "missing on beosrv-c", "beosrv-c unreachable: ..."


_hooked: weakref.WeakSet[JobManager] = weakref.WeakSet()


def register_hooks(cluster: Cluster) -> None:
    """Install the chroot completion hooks on the cluster's JobManager (idempotent). Call it
    before `jobs.resume()` so jobs that ended while qlutui was away update chroots.toml."""
    if cluster.jobs in _hooked:
        return
    _hooked.add(cluster.jobs)
    for kind in KINDS:
        cluster.jobs.register_hook(kind, partial(complete, cluster))


def mirror_of(sources: str) -> str:
    """The first non-security archive URI of an apt sources file ("" when none)."""
    uris = [u for u in _URI.findall(sources) if "security" not in u]
    return uris[0] if uris else ""


def unreachable(server: str, error: Exception) -> str:
    reason = str(error).removeprefix(f"{server}: ")  # transport errors name the head-node
    return f"{server} unreachable: {reason}"


class ChrootsService:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.base = cluster.config.chroots_base.rstrip("/") or "/"
        register_hooks(cluster)

    # -- loading -----------------------------------------------------------------------

    async def load(self) -> ChrootsState:
        state = await asyncio.to_thread(self._read)
        stale = [c for c in state.chroots.values() if c.state == "building" and self._ended(c)]
        for chroot in stale:
            await complete(self.cluster, self.cluster.jobs.get(chroot.job))
        return await asyncio.to_thread(self._read) if stale else state

    def _read(self) -> ChrootsState:
        snap = self.store.load("chroots")
        return ChrootsState(
            chroots=chroots_from_dict(snap.data),
            token=snap.token,
            images=images_from_dict(self.store.load("images").data),
            catalog=self.cluster.catalog(),
        )

    def _ended(self, chroot: Chroot) -> bool:
        try:
            return bool(chroot.job) and self.cluster.jobs.get(chroot.job).done
        except QlutuiError:  # the job record is gone: nothing will ever end it
            return True

    # -- queries -----------------------------------------------------------------------

    def path(self, name: str) -> str:
        return chroot_path(self.base, check_name(name, "chroot name"))

    def chroot(self, state: ChrootsState, name: str) -> Chroot:
        """The chroot `name`, refused when its record's path is not `<chroots_base>/<name>`."""
        chroot = state.chroot(name)
        if problem := misplaced(chroot, self.base):
            raise Refused(f"chroot {shown(name)}: {problem}; fix chroots.toml")
        return chroot

    def lock(self, name: str) -> str:
        return posixpath.join(self.base, LOCKS, f"{check_name(name, 'chroot name')}.lock")

    def busy(self, name: str) -> JobRecord | None:
        """The unfinished job working on the chroot (any process sharing this state dir)."""
        for record in self.cluster.jobs.list():
            if record.finished is None and name in record.meta.get("chroots", []):
                return record
        return None

    def last_job(self, state: ChrootsState, name: str) -> str:
        """The id of the chroot's last job ("" when it has none on record)."""
        job = state.chroot(name).job
        return job if job and self._job_exists(job) else ""

    def _job_exists(self, job_id: str) -> bool:
        try:
            self.cluster.jobs.get(job_id)
        except QlutuiError:
            return False
        return True

    async def probe(self, chroot: Chroot) -> Probe:
        """Whether the chroot's tree is on its head-node, and its size (du, one file system)."""
        if problem := await self.presence(chroot):
            return Probe(False, problem=problem)
        transport = self.cluster.transport(chroot.server)
        argv = ["du", "-sx", "--block-size=1", "--", transport.host_path(chroot.path)]
        try:
            result = await transport.run(argv, timeout=PROBE_TIMEOUT)
        except QlutuiError as exc:
            return Probe(False, problem=unreachable(chroot.server, exc))
        words = result.stdout.split()
        size = int(words[0]) if words and words[0].isdigit() else None
        return Probe(True, size)

    async def presence(self, chroot: Chroot) -> str:
        """Why the chroot's tree is not on its head-node, "" when it is (one stat, no du)."""
        try:
            return await self._presence(chroot)
        except QlutuiError as exc:
            return unreachable(chroot.server, exc)

    async def _presence(self, chroot: Chroot) -> str:
        if problem := misplaced(chroot, self.base):
            return problem  # nothing asked about a path that is not the chroot's
        info = await self.cluster.transport(chroot.server).stat(chroot.path)
        if info is None or info.kind != "dir":
            what = "missing" if info is None else f"not a directory ({info.kind})"
            return f"{what} on {chroot.server}"
        return ""

    async def tree_problems(self, state: ChrootsState) -> dict[str, str]:
        """What `presence` says of every ready chroot (building and failed ones have no tree
        yet)."""
        return await self.tree_problems_of(state.chroots.values())

    async def tree_problems_of(self, chroots: Iterable[Chroot]) -> dict[str, str]:
        """What `presence` says of each of `chroots` that is ready. Head-nodes are asked
        concurrently, each chroot of one in turn; once a head-node is unreachable its other
        chroots say so without waiting for a timeout each."""

        async def on_server(chroots: list[Chroot]) -> dict[str, str]:
            found: dict[str, str] = {}
            down = ""
            for chroot in chroots:
                try:
                    found[chroot.name] = down or await self._presence(chroot)
                except QlutuiError as exc:
                    found[chroot.name] = down = unreachable(chroot.server, exc)
            return found

        servers: dict[str, list[Chroot]] = {}
        for chroot in chroots:
            if chroot.state == "ready":
                servers.setdefault(chroot.server, []).append(chroot)
        results = await asyncio.gather(*(on_server(c) for c in servers.values()))
        return {name: problem for found in results for name, problem in found.items()}

    def version_choices(self, state: ChrootsState, flavour: str | None = None) -> list[str]:
        return state.catalog.xy_versions(flavour)

    def task_choices(self, state: ChrootsState) -> list[tuple[str, str]]:
        """(label, task name) pairs for the tasks multi-select."""
        tasks = state.catalog.task_defs
        return [
            (f"{n} - {tasks[n].description}" if tasks[n].description else n, n)
            for n in state.catalog.task_names()
        ]

    # -- checks (the forms call these before submitting) ---------------------------------

    def check_new_name(self, state: ChrootsState, name: str) -> str:
        check_name(name, "chroot name")
        if name in state.chroots:
            raise Refused(f"a chroot named {shown(name)} already exists")
        return self.path(name)

    def check_new(
        self,
        state: ChrootsState,
        name: str,
        server: str,
        flavour: str,
        version: str,
        tasks: list[str],
    ) -> Chroot:
        """The chroot a New form describes; raises with the first problem."""
        path = self.check_new_name(state, name)
        self.cluster.check_headnode(server)
        self.builder(state, flavour)
        if version not in state.catalog.xy_versions(flavour):
            offered = ", ".join(state.catalog.xy_versions(flavour)) or "none"
            raise InvalidInput(
                f"version {shown(version)} is not offered for {flavour} (offered: {offered})"
            )
        for task in tasks:
            state.catalog.task(task)
        chroot = Chroot(name, "", server, path, flavour, version, list(tasks), "building")
        if problem := chroot_problem(chroot):
            raise InvalidInput(problem)
        return chroot

    def builder(self, state: ChrootsState, flavour: str) -> Any:
        distribution = state.catalog.flavour(flavour).distribution
        builder = self.cluster.config.builders.get(distribution)
        if builder is None:
            raise Refused(
                f"no chroot builder for {distribution} (flavour {flavour}); "
                f"add [builders.{distribution}] to config.toml"
            )
        return builder

    def check_idle(self, state: ChrootsState, name: str) -> None:
        """Refuse a misplaced record, a job working on the chroot or one still being built."""
        self.chroot(state, name)
        if record := self.busy(name):
            raise Refused(
                f"chroot {shown(name)} is busy: job {record.id} ({phrase(record.title)}) is running"
            )
        if state.chroot(name).state == "building":
            raise Refused(f"chroot {shown(name)} is still being built")

    async def check_remove(self, state: ChrootsState, name: str) -> None:
        """Images using it, a job or a shell on it, or a mount below it refuse the removal."""
        check_removable(name, state.images.values())
        self.check_idle(state, name)
        chroot = self.chroot(state, name)
        await self.check_unlocked(chroot, "removed")
        await self._check_unmounted(chroot, "removed")

    async def check_unlocked(self, chroot: Chroot, what: str) -> None:
        """Refuse when a process on the head-node holds the chroot's lock: an interactive
        shell (`shell_command`) or a job whose record is not in this state dir. The probe
        takes the lock for an instant (`flock --nonblock ... true`); no lock file, nobody
        holds it. A job started at that very instant fails "locked", as it would had the
        chroot been busy."""
        transport = self.cluster.transport(chroot.server)
        lock = transport.host_path(self.lock(chroot.name))
        argv = ["flock", "--nonblock", "--conflict-exit-code", LOCK_EXIT, lock, "true"]
        result = await transport.run(argv, timeout=PROBE_TIMEOUT)
        if str(result.returncode) == LOCK_EXIT:
            raise Refused(
                f"chroot {shown(chroot.name)} cannot be {what}: it is in use "
                f"({LOCK_HOLDERS}, {chroot.server}:{self.lock(chroot.name)})"
            )

    async def _check_unmounted(self, chroot: Chroot, what: str) -> None:
        """Refuse when anything is mounted at or below the chroot's tree."""
        transport = self.cluster.transport(chroot.server)
        mountinfo = await transport.run_checked(["cat", "/proc/self/mountinfo"])
        real = transport.host_path(chroot.path)
        for point in parse_mountinfo(mountinfo.stdout.decode("utf-8", "surrogateescape")):
            if point == real or point.startswith(real + "/"):
                raise Refused(
                    f"chroot {shown(chroot.name)} cannot be {what}: "
                    f"{point} is mounted on {chroot.server}"
                )

    async def check_tree(self, state: ChrootsState, name: str, what: str) -> Chroot:
        """Refuse a chroot whose tree is not on its head-node (a rename would copy nothing,
        fail, and leave the source marked failed)."""
        chroot = self.chroot(state, name)
        if problem := await self.presence(chroot):
            raise Refused(f"chroot {shown(name)} cannot be {what} ({problem}); nothing changed")
        await self.check_unlocked(chroot, what)
        return chroot

    async def _check_target_free(self, server: str, path: str) -> None:
        transport = self.cluster.transport(server)
        if await transport.exists(path):
            raise Refused(f"{server}:{path} already exists; remove it or choose another name")

    # -- changes -----------------------------------------------------------------------

    def edit_description(self, state: ChrootsState, name: str, description: str) -> ChrootsState:
        self.chroot(state, name)
        check_line(description, "description")

        def mutate(doc: tomlkit.TOMLDocument) -> None:
            doc["chroots"][name]["description"] = description

        self.store.edit("chroots", state.token, mutate)
        return self._read()

    async def new(
        self,
        state: ChrootsState,
        name: str,
        description: str,
        server: str,
        flavour: str,
        version: str,
        tasks: list[str],
    ) -> Job:
        """Start building a chroot; returns the running job."""
        chroot = self.check_new(state, name, server, flavour, version, tasks)
        check_line(description, "description")
        chroot.description = description
        builder = self.builder(state, flavour)
        await self._check_target_free(server, chroot.path)
        transport = self.cluster.transport(server)
        packages = [p for t in tasks for p in state.catalog.task(t).packages]
        argv = builder.command(
            suite=state.catalog.flavour(flavour).suite,
            target=transport.host_path(chroot.path + PARTIAL),
            mirror=await self._mirror(transport) if "{mirror}" in builder.argv else "",
            packages=list(dict.fromkeys(packages)),
        )
        partial_tree = chroot.path + PARTIAL
        plan = Plan(
            steps=[
                {"op": "rmtree", "path": partial_tree, "base": self.base},
                {
                    "argv": [*PRIVATE, *argv],
                    "title": f"{shlex.join(argv)} (own mount namespace)",
                    "program": argv[0],
                },
                {"op": "rename", "src": partial_tree, "dst": chroot.path},
            ],
            on_failure=[]
            if builder.keep_failed
            else [{"op": "rmtree", "path": partial_tree, "base": self.base}],
            lock=self.lock(name),
            phases=list(builder.phases),
        )
        title = f"{chroot.job_title('Creating')} ..."
        return await self._start(state.token, chroot, CREATE, title, plan, {"chroots": [name]})

    async def clone(self, state: ChrootsState, source: str, name: str, description: str) -> Job:
        """Copy a ready chroot under a new name (same server, flavour, version, tasks)."""
        src = self.chroot(state, source)
        check_line(description, "description")
        self.check_idle(state, source)
        path = self.check_new_name(state, name)
        await self.check_unlocked(src, "cloned")
        await self._check_unmounted(src, "cloned")
        await self._check_target_free(src.server, path)
        chroot = Chroot(
            name,
            description,
            src.server,
            path,
            src.flavour,
            src.version,
            list(src.tasks),
            "building",
        )
        finish = [{"op": "rename", "src": path + PARTIAL, "dst": path}]
        plan = self._copy_plan(src, path, finish, lock=self.lock(name))
        title = f"{src.job_title('Cloning', f'to {name}')} ..."
        meta = {"chroots": [name, source], "source": source}
        return await self._start(state.token, chroot, CLONE, title, plan, meta)

    def check_rename(self, state: ChrootsState, old: str, new: str) -> list[str]:
        """The images that will be repointed from `old` to `new` (refuses what cannot be)."""
        self.check_idle(state, old)
        self.check_new_name(state, new)
        return state.users(old)

    async def rename(self, state: ChrootsState, old: str, new: str) -> Job:
        """One job under `old`'s lock: rename(2) of the tree to `new`'s path (both are
        `<chroots_base>/<name>`: one file system, the same directory moved, nothing copied;
        it happens whole or not at all). The completion hook then repoints the images and
        drops `old`'s record; on failure `old` is untouched and `new`'s record goes."""
        self.check_rename(state, old, new)
        src = await self.check_tree(state, old, "renamed")
        path = self.path(new)
        await self._check_unmounted(src, "renamed")
        await self._check_target_free(src.server, path)
        chroot = Chroot(
            new,
            src.description,
            src.server,
            path,
            src.flavour,
            src.version,
            list(src.tasks),
            "building",
        )
        steps = [
            {"op": "unmounted", "path": src.path},  # mounted since `_check_unmounted`?
            {"op": "rename", "src": src.path, "dst": path},
        ]
        plan = Plan(steps=steps, lock=self.lock(old))
        title = f"{src.job_title('Renaming', f'to {new}')} ..."
        meta = {"chroots": [new, old], "source": old}
        return await self._start(state.token, chroot, RENAME, title, plan, meta)

    def check_runnable(self, state: ChrootsState, name: str) -> Chroot:
        """A chroot a command may run in: placed at `<chroots_base>/<name>`, ready, idle."""
        self.check_idle(state, name)
        chroot = self.chroot(state, name)
        if chroot.state != "ready":
            raise Refused(f"chroot {shown(name)} is not ready (it is {chroot.state})")
        return chroot

    async def run(self, state: ChrootsState, name: str, argv: list[str]) -> Job:
        """Run `argv` inside the chroot as a job (see INSIDE for the mounts)."""
        if not argv or not argv[0] or any("\0" in word for word in argv):
            raise InvalidInput("the command is empty or contains a NUL character")
        chroot = self.check_runnable(state, name)
        title = chroot.job_title("Running in", shlex.join(argv))
        return await self._run_job(chroot, [argv], title)

    async def run_action(self, state: ChrootsState, name: str, action: str) -> Job:
        """A ready-made action of ACTIONS ("upgrade", "clean") inside the chroot, as a job."""
        if action not in ACTIONS:
            raise InvalidInput(f"unknown action {shown(action)} (known: {', '.join(ACTIONS)})")
        chroot = self.check_runnable(state, name)
        # its steps are the same for every chroot (the log shows them): the name ends the title
        title = chroot.job_title(DOING[action])
        return await self._run_job(chroot, ACTIONS[action], title)

    async def shell_command(self, state: ChrootsState, name: str) -> list[str]:
        """The argv (run by the caller on this terminal) of an interactive root shell inside
        the chroot: the same private namespace as a run, under the chroot's lock (refused with
        LOCK_EXIT while a job holds it), the prompt naming the chroot as Qlustar's
        `chroot-<name>` does (Debian's bashrc reads `debian_chroot`). On an SSH head-node it
        is `ssh -t` with the head-node's own settings (`Transport.terminal`)."""
        chroot = self.check_runnable(state, name)
        transport = self.cluster.transport(chroot.server)
        await transport.mkdir(posixpath.dirname(self.lock(name)))
        label = f"chroot-{name}"
        prompt = ["env", f"debian_chroot={label}", f"PS1=({label}) \\w # "]
        lock = ["flock", "--nonblock", "--conflict-exit-code", LOCK_EXIT]
        lock.append(transport.host_path(self.lock(name)))
        return transport.terminal([*prompt, *lock, *_inside(transport, chroot), *SHELL])

    async def add_tasks(self, state: ChrootsState, name: str, tasks: list[str]) -> Job:
        """Install the packages of catalog tasks the chroot does not have yet, as a job
        (apt-get update, apt-get -y install); the hook adds the tasks to its record only
        when the job succeeded."""
        chroot = self.check_runnable(state, name)
        tasks = list(dict.fromkeys(tasks))
        if not tasks:
            raise InvalidInput("choose at least one task")
        for task in tasks:
            state.catalog.task(task)
        if had := [t for t in tasks if t in chroot.tasks]:
            raise Refused(f"chroot {shown(name)} has these tasks already: {', '.join(had)}")
        packages = list(dict.fromkeys(p for t in tasks for p in state.catalog.task(t).packages))
        commands = [["apt-get", "update"], ["apt-get", "-y", "install", *packages]]
        title = chroot.job_title("Adding tasks to", ", ".join(tasks))
        return await self._run_job(chroot, commands, title, ADD_TASKS, {"tasks": tasks})

    def release_rule(self, chroot: Chroot) -> ReleaseSources:
        rule = self.cluster.config.release_sources.get(chroot.flavour)
        if rule is None:
            raise Refused(
                f"no release sources rule for flavour {chroot.flavour}; "
                f"add [release_sources.{chroot.flavour}] to config.toml"
            )
        return rule

    def release_target(self, state: ChrootsState, name: str, version: str, clone: str) -> Chroot:
        """The chroot a release upgrade of `name` to `version` works on (refuses what cannot
        be): the existing chroot `clone` (one made before, same flavour), else a new clone of
        `name` under that name (returned with state "building"). Never `name` itself."""
        source = self.check_runnable(state, name)
        self.release_rule(source)
        offered = state.catalog.xy_versions(source.flavour)
        if version not in offered:
            raise InvalidInput(
                f"version {shown(version)} is not offered for {source.flavour} "
                f"(offered: {', '.join(offered) or 'none'})"
            )
        if clone == name:
            raise Refused("a release upgrade works on a clone; the original is never touched")
        if clone in state.chroots:
            target = self.check_runnable(state, clone)
            if target.flavour != source.flavour:
                raise Refused(
                    f"chroot {shown(clone)} is {target.flavour}, not {source.flavour} "
                    f"like {shown(name)}"
                )
        else:
            path = self.check_new_name(state, clone)
            target = Chroot(
                clone,
                f"{name} upgraded to {version}",
                source.server,
                path,
                source.flavour,
                source.version,
                list(source.tasks),
                "building",
            )
        if parse_version(version) <= parse_version(target.version):
            raise Refused(
                f"chroot {shown(clone)} is at {target.version}: choose a newer version "
                f"than that (offered: {', '.join(offered)})"
            )
        return target

    async def release_upgrade(
        self, state: ChrootsState, name: str, version: str, clone: str
    ) -> Job:
        """One job: clone `name` (unless `clone` exists already), switch the clone's release
        sources by the flavour's rule, apt-get update + full-upgrade inside it. The hook
        records `version` on the clone only when the job succeeded."""
        target = self.release_target(state, name, version, clone)
        rule = self.release_rule(target)
        transport = self.cluster.transport(target.server)
        root = transport.host_path(target.path)
        old, new = rule.replaced(target.version), rule.replaced(version)
        switch = {
            "argv": ["python3", "-c", _release_source(), root, rule.file, old, new],
            "title": f"switch the release sources {root}{rule.file}: {old!r} -> {new!r}",
        }
        upgrade = self._inside_steps(transport, target, ACTIONS["upgrade"])
        title = target.job_title("Upgrading the release of", f"to {version}")
        meta: dict[str, Any] = {"source": name, "version": version}
        if target.state != "building":  # the clone exists: the source is not read
            plan = self._inside_plan(transport, target, [switch, *upgrade])
            return await self._start_inside(target, RELEASE, title, plan, meta)
        await self._check_unmounted(state.chroot(name), "cloned")
        await self._check_target_free(target.server, target.path)
        rename = {"op": "rename", "src": target.path + PARTIAL, "dst": target.path}
        plan = self._copy_plan(
            state.chroot(name), target.path, [rename, switch, *upgrade], self.lock(clone)
        )
        plan.on_failure += self._inside_plan(transport, target, []).on_failure
        meta |= {"chroots": [clone, name], "cloned": True}
        return await self._start(state.token, target, RELEASE, title, plan, meta)

    async def _run_job(
        self,
        chroot: Chroot,
        commands: list[list[str]],
        title: str,
        kind: str = RUN,
        meta: dict[str, Any] | None = None,
    ) -> Job:
        transport = self.cluster.transport(chroot.server)
        plan = self._inside_plan(transport, chroot, self._inside_steps(transport, chroot, commands))
        return await self._start_inside(chroot, kind, title, plan, meta or {})

    def _inside_steps(
        self, transport: Transport, chroot: Chroot, commands: list[list[str]]
    ) -> list[dict[str, Any]]:
        """One plan step per argv, each run inside the chroot (see INSIDE)."""
        root = transport.host_path(chroot.path)
        inside = _inside(transport, chroot)
        return [
            {
                "argv": [*inside, *argv],
                # the command first: the log pane cuts a line at its width (78 columns)
                "title": f"{shlex.join(argv)} (inside {root}, in a private mount namespace)",
                "program": argv[0],
            }
            for argv in commands
        ]

    def _inside_plan(
        self, transport: Transport, chroot: Chroot, steps: list[dict[str, Any]]
    ) -> Plan:
        """`steps` under the chroot's lock; a failure or Kill removes the run's policy-rc.d."""
        root = transport.host_path(chroot.path)
        policy = ["sh", "-c", DROP_POLICY, "qlutui-chroot", root + POLICY_RC]
        return Plan(
            steps=steps,
            on_failure=[
                {"argv": policy, "title": f"remove the run's policy-rc.d: {root}{POLICY_RC}"}
            ],
            lock=self.lock(chroot.name),
        )

    async def _start_inside(
        self, chroot: Chroot, kind: str, title: str, plan: Plan, meta: dict[str, Any]
    ) -> Job:
        """Start a job on an existing chroot; its record keeps its state and gets the job."""
        job = await self.cluster.jobs.start(
            kind,
            title,
            {chroot.server: plan},
            subject=f"chroot {chroot.name}",
            meta={"chroots": [chroot.name], **meta, "chroot": chroot.name},
        )
        await _set(self.cluster, chroot.name, job=job.id)
        return job

    async def remove(self, state: ChrootsState, name: str) -> Job:
        """Delete the chroot's tree (a job, confined to chroots_base); the hook drops its
        record when the tree is gone."""
        await self.check_remove(state, name)
        chroot = self.chroot(state, name)
        plan = Plan(
            steps=[{"op": "rmtree", "path": chroot.path, "base": self.base}], lock=self.lock(name)
        )
        title = f"{chroot.job_title('Removing')} ..."
        job = await self.cluster.jobs.start(
            REMOVE,
            title,
            {chroot.server: plan},
            subject=f"chroot {name}",
            meta={"chroots": [name], "chroot": name},
        )
        await _set(self.cluster, name, job=job.id)
        return job

    # -- internals ---------------------------------------------------------------------

    def _copy_plan(self, src: Chroot, path: str, finish: list[dict[str, Any]], lock: str) -> Plan:
        """Copy `src` into `<path>.partial`, then the `finish` steps, under the plan `lock`.
        A clone holds the source's lock too while it reads it (`flock`): a removal of the
        source from another process waits for it or fails. The job checks again that nothing
        is mounted below the source (mounted since `_check_unmounted`), and `cp` stays on the
        source's file system whatever is mounted while it copies."""
        transport = self.cluster.transport(src.server)
        partial_tree = path + PARTIAL
        copy = [
            "cp",
            "-a",
            "--one-file-system",
            "--reflink=auto",
            "--",
            transport.host_path(src.path),
            transport.host_path(partial_tree),
        ]
        source_lock = self.lock(src.name)
        if source_lock != lock:
            copy = [
                "flock",
                "--nonblock",
                "--conflict-exit-code",
                LOCK_EXIT,
                transport.host_path(source_lock),
                *copy,
            ]
        return Plan(
            steps=[
                {"op": "rmtree", "path": partial_tree, "base": self.base},
                {"op": "unmounted", "path": src.path},
                {"argv": copy},
                *finish,
            ],
            on_failure=[{"op": "rmtree", "path": partial_tree, "base": self.base}],
            lock=lock,
        )

    async def _start(
        self, token: str, chroot: Chroot, kind: str, title: str, plan: Plan, meta: dict
    ) -> Job:
        """Reserve the name in chroots.toml ("building"), start the job, record its id."""

        def add(doc: tomlkit.TOMLDocument) -> None:
            if chroot.name in doc.get("chroots", {}):
                raise Refused(f"a chroot named {shown(chroot.name)} already exists")
            doc.setdefault("chroots", tomlkit.table(is_super_table=True))
            doc["chroots"][chroot.name] = chroot.to_dict()

        await self.store.edit_async("chroots", token, add)
        try:
            job = await self.cluster.jobs.start(
                kind,
                title,
                {chroot.server: plan},
                subject=f"chroot {chroot.name}",
                meta={**meta, "chroot": chroot.name},
            )
        except BaseException:
            await _drop(self.cluster, chroot.name)  # nothing was started: free the name again
            raise
        await _set(self.cluster, chroot.name, job=job.id)
        return job

    async def _mirror(self, transport: Transport) -> str:
        """The archive URI of the head-node's own apt sources (read where the builder runs:
        the paths are not mapped, like the builder's argv)."""
        for path in APT_SOURCES:
            result = await transport.run(["cat", "--", path], timeout=PROBE_TIMEOUT)
            if result.returncode == 0 and (
                uri := mirror_of(result.stdout.decode(errors="replace"))
            ):
                return uri
        return ""


@cache
def _release_source() -> str:
    """The script of a release upgrade's sources step (backend/release_sources.py)."""
    return Path(release_sources.__file__).read_text()


def _inside(transport: Transport, chroot: Chroot) -> list[str]:
    """The argv prefix that runs what follows it inside the chroot (see INSIDE)."""
    return [*PRIVATE, "sh", "-c", INSIDE, "qlutui-chroot", transport.host_path(chroot.path)]


async def _set(cluster: Cluster, name: str, **values: str) -> None:
    """Set fields of one chroot record in chroots.toml (no-op when it is gone)."""

    def mutate(doc: tomlkit.TOMLDocument) -> None:
        entry = doc.get("chroots", {}).get(name)
        if entry is not None:
            for key, value in values.items():
                entry[key] = value

    await cluster.store.update_async("chroots", mutate)


async def _drop(cluster: Cluster, name: str) -> None:
    def mutate(doc: tomlkit.TOMLDocument) -> None:
        if name in doc.get("chroots", {}):
            del doc["chroots"][name]

    await cluster.store.update_async("chroots", mutate)


async def complete(cluster: Cluster, job: Job) -> None:
    """The completion hook of every chroot job: bring chroots.toml (and images.toml for a
    rename) in line with how the job ended. Idempotent."""
    record = job.record
    name = record.meta.get("chroot", "")
    ok = record.state in (SUCCESS, ERRORS)
    if record.kind == REMOVE:
        if ok:
            await _drop(cluster, name)
        else:
            await _mark_by_tree(cluster, name)
        return
    if record.kind == RUN:
        await _set(cluster, name, job=record.id)  # a run changes what is inside, not the state
        return
    if record.kind == ADD_TASKS:
        if ok:
            await _add_tasks(cluster, name, record.meta.get("tasks", []))
        await _set(cluster, name, job=record.id)
        return
    if record.kind == RELEASE:
        if ok:
            await _set(cluster, name, state="ready", version=record.meta.get("version", ""))
        elif record.meta.get("cloned"):
            await _mark_by_tree(cluster, name)  # the clone stays (old version) if it was made
        await _set(cluster, name, job=record.id)
        return
    if record.kind == RENAME:
        old = record.meta.get("source", "")
        if ok or await _moved(cluster, old, name):  # a Kill just after the rename: it is done
            await _repoint(cluster, old, name)
            await _drop(cluster, old)
            await _set(cluster, name, state="ready")
        else:
            await _drop(cluster, name)
            await _set(cluster, old, job=record.id)
            await _mark_by_tree(cluster, old)
        return
    await _set(cluster, name, state="ready" if ok else "failed", job=record.id)


async def _add_tasks(cluster: Cluster, name: str, tasks: list[str]) -> None:
    def mutate(doc: tomlkit.TOMLDocument) -> None:
        entry = doc.get("chroots", {}).get(name)
        if entry is not None:
            entry["tasks"] = list(dict.fromkeys([*entry.get("tasks", []), *tasks]))

    await cluster.store.update_async("chroots", mutate)


async def _mark_by_tree(cluster: Cluster, name: str) -> None:
    """After a failed removal or rename: ready when the tree is still there, else failed."""
    chroot = chroots_from_dict(cluster.store.load("chroots").data).get(name)
    if chroot is None or misplaced(chroot, cluster.config.chroots_base):
        return
    try:
        present = await cluster.transport(chroot.server).exists(chroot.path)
    except QlutuiError:
        return  # cannot tell: leave the record as it is
    await _set(cluster, name, state="ready" if present else "failed")


async def _moved(cluster: Cluster, old: str, new: str) -> bool:
    """Whether the tree is at `new`'s path and no longer at `old`'s (False when unknown)."""
    chroot = chroots_from_dict(cluster.store.load("chroots").data).get(new)
    if chroot is None or misplaced(chroot, cluster.config.chroots_base):
        return False
    transport = cluster.transport(chroot.server)
    old_path = chroot_path(cluster.config.chroots_base, old)
    try:
        return await transport.exists(chroot.path) and not await transport.exists(old_path)
    except QlutuiError:
        return False


async def _repoint(cluster: Cluster, old: str, new: str) -> None:
    def mutate(doc: tomlkit.TOMLDocument) -> None:
        for entry in doc.get("images", {}).values():
            if entry.get("chroot") == old:
                entry["chroot"] = new

    await cluster.store.update_async("images", mutate)
