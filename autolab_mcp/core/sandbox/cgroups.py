"""Per-run cgroups for bwrap sandboxes (v1 or v2), found once per process.

A run gets memory and pids limits, a CPU quota unless it is timed, and a cpuset: the only
confinement to its cores that the sandboxed code cannot undo (an affinity mask it could widen
again with sched_setaffinity, and so reach the timing core). Cgroups of servers that died
without cleaning up are removed on the next start.
"""

from __future__ import annotations

import atexit
import errno
import functools
import logging
import os
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from autolab_mcp.core.sandbox.base import Limits

log = logging.getLogger("autolab.sandbox.cgroups")

_MiB = 1024 * 1024
_CG_ROOT = Path("/sys/fs/cgroup")
_CG_PARENT = "autolab"
_CFS_PERIOD_US = 100_000
#: "1" (set in the scorer's container image): a bwrap sandbox refuses to start without cgroup limits
#: and a cpuset, rather than silently falling back to rlimits and an affinity mask it could widen.
REQUIRE_ENV = "AUTOLAB_REQUIRE_CGROUPS"
_unavailable_reason = ""


def cgroups_required() -> bool:
    """Whether $AUTOLAB_REQUIRE_CGROUPS asks for cgroups (and a cpuset) or an error."""
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in ("1", "true", "yes")


def unavailable_reason() -> str:
    """Why detect_cgroups() found nothing usable ("" when it found a tree or was not called)."""
    return _unavailable_reason


def has_cpuset(tree: CgroupTree | None) -> bool:
    """Whether runs get a cpuset cgroup (the confinement to their cores they cannot undo)."""
    if tree is None:
        return False
    return "cpuset" in (tree.cpuset_v2 if tree.version == 2 else tree.parents)

@dataclass
class RunCgroup:
    """The cgroup(s) of one run: one directory per v1 controller, or one v2 directory."""

    version: int
    dirs: dict[str, Path]  # controller ("" for v2) -> directory

    @property
    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs.values()]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for f in self.procs_files:
            try:
                found.update(int(x) for x in f.read_text().split())
            except OSError:
                pass
        return found

    def set_frozen(self, frozen: bool) -> bool:
        """Freeze or thaw every task (v1 freezer, v2 cgroup.freeze); False when there is no freezer."""
        try:
            if self.version == 2:
                (self.dirs[""] / "cgroup.freeze").write_text("1" if frozen else "0")
                return True
            d = self.dirs.get("freezer")
            if d is None:
                return False
            (d / "freezer.state").write_text("FROZEN" if frozen else "THAWED")
            return True
        except OSError as e:
            log.warning("could not %s cgroup %s: %s", "freeze" if frozen else "thaw", self.dirs, e)
            return False

    def kill_all(self, timeout: float = 5.0) -> bool:
        """SIGKILL every task until none is left (new forks are caught by the next pass)."""
        if self.version == 2 and (d := self.dirs[""]).joinpath("cgroup.kill").exists():
            try:
                (d / "cgroup.kill").write_text("1")
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        while pids := self.pids():
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                log.warning("cgroup %s still has tasks %s after SIGKILL", self.dirs, sorted(pids))
                return False
            time.sleep(0.005)
        return True

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer fired inside this cgroup."""
        d = self.dirs.get("memory") or self.dirs.get("")
        if d is None:
            return False
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            fields = dict(line.split() for line in (d / name).read_text().splitlines() if " " in line)
        except (OSError, ValueError):
            return False
        if "oom_kill" in fields:
            return int(fields["oom_kill"]) > 0
        # Kernels before 4.13 have no v1 oom_kill counter: a limit hit while under_oom is the best hint.
        return fields.get("under_oom", "0") != "0"

    def remove(self) -> None:
        for d in self.dirs.values():
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY:
                        log.warning("could not remove cgroup %s: %s", d, e)
                        break
                    time.sleep(0.01)
            else:
                log.warning("cgroup %s still busy; left behind", d)


@dataclass(frozen=True)
class CgroupTree:
    """Where per-run cgroups are created (found once per process)."""

    version: int
    parents: dict[str, Path]  # controller ("" for v2) -> .../autolab
    cpuset_v2: frozenset[str] = frozenset()  # {"cpuset"} when the v2 tree delegates it

    def create(self, run_id: str, limits: Limits, cpu_quota: bool, cpus: list[int] | None = None) -> RunCgroup:
        """A run's cgroup: memory, pids, a CPU quota unless it is a timed run, and a cpuset of `cpus`
        (None: every CPU the parent has). The cpuset is what confines a run to its cores: an affinity
        mask (taskset) the sandboxed process could widen again with sched_setaffinity."""
        mem = limits.memory_mb * _MiB
        cpu_list = ",".join(map(str, cpus)) if cpus else None
        quota = max(1000, int(limits.cpus * _CFS_PERIOD_US))
        dirs: dict[str, Path] = {}
        cg = RunCgroup(self.version, dirs)
        try:
            if self.version == 2:
                d = dirs[""] = self.parents[""] / run_id
                _mkdir_run(d)
                _write(d / "memory.max", mem)
                _write(d / "memory.swap.max", 0, optional=True)
                _write(d / "pids.max", limits.pids)
                if cpu_quota:
                    _write(d / "cpu.max", f"{quota} {_CFS_PERIOD_US}")
                if cpu_list and "cpuset" in self.cpuset_v2:
                    _write(d / "cpuset.cpus", cpu_list)
                return cg
            for ctrl in ("memory", "pids", "cpu") if cpu_quota else ("memory", "pids"):
                d = dirs[ctrl] = self.parents[ctrl] / run_id
                _mkdir_run(d)
            _write(dirs["memory"] / "memory.limit_in_bytes", mem)
            # memsw >= limit must hold, so it is set second; absent when swap accounting is off.
            _write(dirs["memory"] / "memory.memsw.limit_in_bytes", mem, optional=True)
            _write(dirs["pids"] / "pids.max", limits.pids)
            if cpu_quota:
                _write(dirs["cpu"] / "cpu.cfs_period_us", _CFS_PERIOD_US)
                _write(dirs["cpu"] / "cpu.cfs_quota_us", quota)
            if "freezer" in self.parents:
                _mkdir_run(self.parents["freezer"] / run_id)
                dirs["freezer"] = self.parents["freezer"] / run_id
            if "cpuset" in self.parents:
                d = dirs["cpuset"] = self.parents["cpuset"] / run_id
                _mkdir_run(d)
                parent = self.parents["cpuset"]
                _init_cpuset(parent)  # recreated empty if another process's exit removed it meanwhile
                # v1 starts a cpuset empty: both must be set before a task may join
                _write(d / "cpuset.cpus", cpu_list or (parent / "cpuset.cpus").read_text().strip())
                _write(d / "cpuset.mems", (parent / "cpuset.mems").read_text().strip())
            return cg
        except OSError:
            cg.remove()
            raise


def _mkdir_run(d: Path) -> None:
    # The parent may have been removed by another server's exit cleanup since detection.
    d.parent.mkdir(exist_ok=True)
    d.mkdir()


def _remove_parents(tree: CgroupTree) -> None:
    """At exit: drop our (then usually empty) parent dirs so the enclosing cgroup can be removed."""
    for parent in tree.parents.values():
        try:
            parent.rmdir()
        except OSError:
            pass  # still used by a live sandbox or another server


def _write(path: Path, value: object, optional: bool = False) -> None:
    try:
        path.write_text(f"{value}\n")
    except OSError:
        if not optional:
            raise


def _own_cgroups() -> dict[str, str]:
    """Controller -> this process's cgroup path ("" is the v2 hierarchy)."""
    own: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        for ctrl in ctrls.split(",") if ctrls else [""]:
            own[ctrl] = path
    return own


def _nest_under(mount: Path, own_path: str) -> Path:
    """Our own cgroup when it is visible (so the server's limits still bound the sandboxes), else the mount."""
    own = mount / own_path.lstrip("/")
    return own if own.is_dir() else mount


@functools.cache
def detect_cgroups() -> CgroupTree | None:
    """The cgroup tree to use, or None when cgroups cannot be managed here (then rlimits apply)."""
    global _unavailable_reason
    if os.geteuid() != 0:
        _unavailable_reason = "not root"
        return None
    try:
        own = _own_cgroups()
        tree = _detect_v2(own) if (_CG_ROOT / "cgroup.controllers").exists() else _detect_v1(own)
    except (OSError, ValueError) as e:
        _unavailable_reason = str(e)
        log.info("cgroups unavailable (%s); falling back to rlimits", e)
        return None
    if tree is None:
        _unavailable_reason = f"no usable memory, pids and cpu controllers under {_CG_ROOT}"
    else:
        atexit.register(_remove_parents, tree)
        remove_stale_runs(tree)
    return tree


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_runs(tree: CgroupTree) -> None:
    """Per-run cgroups are named `<server pid>-<n>-<hex>`; those of a process that is gone (a server
    killed by SIGKILL never ran its cleanup) are emptied and removed on the next start."""
    for parent in tree.parents.values():
        try:
            entries = list(parent.iterdir())
        except OSError:
            continue
        for d in entries:
            pid = d.name.split("-", 1)[0]
            if not d.is_dir() or not pid.isdigit() or _pid_alive(int(pid)):
                continue
            stale = RunCgroup(tree.version, {"": d})
            stale.kill_all(timeout=1.0)
            stale.remove()
            log.info("removed stale cgroup %s", d)


def _detect_v1(own: dict[str, str]) -> CgroupTree | None:
    parents: dict[str, Path] = {}
    for ctrl, probe_file in (("memory", "memory.limit_in_bytes"), ("pids", "pids.max"), ("cpu", "cpu.cfs_quota_us")):
        mount = _CG_ROOT / ctrl
        if not (mount / "cgroup.procs").exists():
            return None
        parent = _nest_under(mount, own.get(ctrl, "/")) / _CG_PARENT
        parent.mkdir(exist_ok=True)
        probe = parent / f"probe-{os.getpid()}-{secrets.token_hex(3)}"
        probe.mkdir()
        try:
            if not (probe / probe_file).exists():
                return None
        finally:
            probe.rmdir()
        parents[ctrl] = parent
    freezer = _CG_ROOT / "freezer"
    if (freezer / "cgroup.procs").exists():
        parents["freezer"] = _nest_under(freezer, own.get("freezer", "/")) / _CG_PARENT
        parents["freezer"].mkdir(exist_ok=True)
    else:
        log.warning("no freezer cgroup: experiments keep running while their episode is evaluated")
    cpuset = _v1_cpuset_parent(own)
    if cpuset is not None:
        parents["cpuset"] = cpuset
    else:
        log.warning("no cpuset cgroup: sandboxes are kept off the timing core by an affinity mask only")
    return CgroupTree(1, parents)


def _v1_cpuset_parent(own: dict[str, str]) -> Path | None:
    """Our parent dir in the v1 cpuset hierarchy, initialised with the enclosing cgroup's cpus and mems."""
    mount = _CG_ROOT / "cpuset"
    if not (mount / "cgroup.procs").exists():
        return None
    base = _nest_under(mount, own.get("cpuset", "/"))
    parent = base / _CG_PARENT
    try:
        parent.mkdir(exist_ok=True)
        _init_cpuset(parent)
    except OSError as e:
        log.info("cpuset cgroup unusable (%s)", e)
        return None
    return parent


def _detect_v2(own: dict[str, str]) -> CgroupTree | None:
    # The no-internal-processes rule: controllers can be delegated from the root, or from a
    # cgroup that holds no processes. The server's own cgroup usually holds the server, so this
    # mostly works when the server sits in the root (or the write below fails -> rlimits).
    base = _nest_under(_CG_ROOT, own.get("", "/"))
    wanted = {"memory", "pids", "cpu"}
    if not wanted <= set((base / "cgroup.controllers").read_text().split()):
        return None
    parent = base / _CG_PARENT
    parent.mkdir(exist_ok=True)
    for d in (base, parent):
        _write(d / "cgroup.subtree_control", " ".join(f"+{c}" for c in sorted(wanted)))
    cpuset: frozenset[str] = frozenset()
    if "cpuset" in (base / "cgroup.controllers").read_text().split():
        try:
            for d in (base, parent):
                _write(d / "cgroup.subtree_control", "+cpuset")
            cpuset = frozenset({"cpuset"})
        except OSError as e:
            log.warning("cpuset controller not delegable (%s): affinity masks only", e)
    return CgroupTree(2, {"": parent}, cpuset)


def _init_cpuset(directory: Path) -> None:
    """A v1 cpuset starts with no cpus and no mems: give it its parent's."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        if not (directory / name).read_text().strip():
            _write(directory / name, (directory.parent / name).read_text().strip())
