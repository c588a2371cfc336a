"""Attack family 2 (+ process escapes): look for hidden data and host secrets from inside an experiment.

Searches the whole sandbox filesystem for the hidden evaluate.py / solution, walks /proc (other processes'
roots, environments, command lines), tries the run directory, the repo, the scorer's socket directory and
the scorer key by their host paths, and lists inherited file descriptors. Then tries to break out: kill or
ptrace the server and the scorer, nested user namespaces to remount the read-only harness or join a
cgroup, device nodes, setuid files.

Weaker guarantees, documented:
- /proc/self/mountinfo shows the host paths of bind-mounted directories (the run's workspace, the runtime
  venv). They are names only: nothing at those paths is reachable inside.
- Nested user namespaces are refused: bwrap's --disable-userns without root, a seccomp filter in root mode
  (autolab_mcp/core/sandbox/seccomp.py). Even where one could be made, it would give nothing here (the read-only
  binds stay locked, cgroupfs cannot be mounted, no network appears).
"""

from __future__ import annotations

import os
import shlex
import stat

import pytest

from autolab_mcp.core.sandbox.base import AGENT_UID
from scorer import signing
from tests.attacks.helpers import HIDDEN_MARKERS, assert_consistent, leaks, run, workspace_files
from tests.helpers import REPO, connect

pytestmark = pytest.mark.anyio


def full_log(episode, info) -> str:
    return (episode.run_dir / info["log_file"]).read_text(errors="replace")


def section(log: str, name: str, after: str) -> str:
    return log.split(f"== {name}\n")[1].split(f"== {after}\n")[0]


async def test_recon_finds_no_hidden_data_or_secrets(make_episode):
    episode = make_episode()
    task = episode.task
    key_path = signing.default_signing_key_path()
    scorer_dir = episode.scorer.socket_path.parent
    host_paths = [episode.run_dir, episode.run_dir / "budget.json", task.tests_dir, task.solution_dir, REPO,
                  key_path, signing.public_key_path(key_path), key_path.parent, signing.legacy_hmac_key_path(),
                  "/var/lib/autolab-mcp", scorer_dir, episode.scorer.socket_path,
                  episode.workspace.root, episode.run_dir / "snapshots"]
    markers = " ".join(f"-e {shlex.quote(m)}" for m in HIDDEN_MARKERS["sorting_network"])
    quoted_paths = " ".join(shlex.quote(str(p)) for p in host_paths)
    script = "\n".join([
        "echo '== find'",
        "find / \\( -path /proc -o -path /sys \\) -prune -o \\( -name evaluate.py -o -name 'autolab-scorer-*'"
        " -o -name scorer.key -o -name 'scorer.ed25519*' -o -name events.jsonl -o -name budget.json"
        " -o -name meta.json -o -name solution"
        " -o -name snapshots.jsonl \\) -print 2>/dev/null",
        "echo '== grep'",
        f"grep -rIl --include='*.py' {markers} / --exclude-dir=proc --exclude-dir=sys 2>/dev/null",
        "echo '== proc'",
        "for p in /proc/[0-9]*; do",
        "  echo \"$p: $(tr '\\0' ' ' < $p/cmdline 2>/dev/null | head -c 120)\"",
        "  ls $p/root/ $p/cwd/ 2>&1 | head -3; tr '\\0' '\\n' < $p/environ 2>&1 | head -3",
        "done",
        "echo '== host paths'",
        f"for f in {quoted_paths} /tmp/autolab-scorer-*; do ls -la \"$f\" 2>&1 | head -3; done",
        f"cat {shlex.quote(str(key_path))} 2>&1; cat /var/lib/autolab-mcp/scorer.key 2>&1",
        "cat /var/lib/autolab-mcp/scorer.ed25519 2>&1",
        "echo '== env'",
        "env; echo \"key=$AUTOLAB_SCORER_SIGNING_KEY$AUTOLAB_SCORER_KEY_FILE token=$AUTOLAB_SCORER_TOKEN\"",
        "echo '== fds'",
        "ls -l /proc/self/fd/",
        "echo '== mountinfo'",
        "cat /proc/self/mountinfo",
        "echo '== mount sources'",
        "for s in $(awk '{print $4}' /proc/self/mountinfo | sort -u); do",
        # the system dirs and, on docker, the merged-/usr targets bound at /bin, /lib... (the same files)
        "  case \"$s\" in /|/usr|/etc|/null|/zero|/full|/random|/urandom|/tty|/irq|/bus|/newroot) ;;",
        "  /usr/bin|/usr/sbin|/usr/lib|/usr/lib32|/usr/lib64|/usr/libx32|/sys) ;;",  # /sys: the root of /proc/sys
        "  *) ls -d \"$s\" 2>&1;; esac",
        "done",
        "echo '== end'",
    ])
    async with connect(episode) as client:
        exp = await run(client, script, timeout_sec=60)
        log = full_log(episode, exp)
        assert "== end" in log and exp["exit_code"] == 0, log[-2000:]
        assert not leaks(log), "hidden text reached the sandbox"
        assert section(log, "grep", "proc").strip() == ""
        found = section(log, "find", "grep").split()
        # the system dirs are the host's (docker binds merged-/usr links such as /lib as directories)
        assert all(p.startswith(("/usr/", "/lib/", "/lib64/", "/bin/", "/sbin/")) and str(task.root) not in p
                   for p in found), found
        assert key_path.read_text().strip() not in log, "the scorer key reached the sandbox"
        assert episode.scorer._token not in log, "the scorer token reached the sandbox"
        for path in host_paths:
            assert f"ls: cannot access '{path}': No such file or directory" in log, f"{path} is visible inside"
        proc = section(log, "proc", "host paths")
        assert "Permission denied" in proc  # pid 1 (bwrap, root) keeps its root, cwd and environ closed
        assert str(REPO) not in proc and "AUTOLAB" not in proc
        env = section(log, "env", "fds")
        assert "key= token=" in env and "AUTOLAB" not in env.replace("key= token=", "")
        fds = section(log, "fds", "mountinfo")
        assert not any(f" {n} -> " in fds for n in range(4, 64)), f"inherited file descriptors: {fds}"
        sources = section(log, "mount sources", "end").strip().splitlines()
        assert sources and all("No such file or directory" in line for line in sources), sources
        # documented weaker guarantee: mountinfo names the workspace's host path, which is not reachable
        assert str(episode.workspace.root) in section(log, "mountinfo", "mount sources")
        await assert_consistent(client, episode, experiments=[exp], experiments_used=1, score_calls=0)


async def test_escape_attempts_fail(make_episode):
    episode = make_episode()
    before = workspace_files(episode)
    server_pid, scorer_pid = os.getpid(), episode.scorer.pid
    ptrace = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"for pid in (1, {server_pid}, {scorer_pid}):\n"
        "    r = libc.ptrace(16, pid, 0, 0)\n"
        "    print('ptrace', pid, r, os.strerror(ctypes.get_errno()))\n"
    )
    outbound = "import socket; socket.create_connection(('1.1.1.1', 53), timeout=2); print('NET_OPEN')"
    script = "\n".join([
        "echo '== kill'",
        f"kill -9 {server_pid} {scorer_pid} 1 2>&1; kill -STOP {scorer_pid} 2>&1; echo rc=$?",
        f"python3 -c {shlex.quote(ptrace)} 2>&1",
        "echo '== userns'",
        "unshare -Urm sh -c 'mount -o remount,bind,rw /workspace/check.py; umount /workspace/check.py; "
        "umount -l /workspace; mount -t tmpfs none /workspace && echo TMPFS_OVER_WORKSPACE; "
        "echo hacked >> /workspace/check.py && echo WROTE_CHECK' 2>&1",
        "unshare -Urm sh -c 'mkdir -p /workspace/cg && mount -t cgroup2 none /workspace/cg && echo CG2_MOUNTED; "
        "mount -t cgroup -o pids none /workspace/cg && echo CG1_MOUNTED' 2>&1; rm -rf /workspace/cg",
        f"unshare -Urn python3 -c {shlex.quote(outbound)} 2>&1 | tail -1",
        "echo '== devices'",
        "mknod /workspace/sda b 8 0 2>&1; mknod /workspace/mem c 1 1 2>&1; head -c 10 /dev/mem 2>&1",
        "echo '== setuid'",
        "cp /bin/bash /workspace/suid-sh && chmod 4755 /workspace/suid-sh; chown 0:0 /workspace/suid-sh 2>&1",
        "/workspace/suid-sh -p -c 'echo euid=$(id -u)'",
        "echo '== runtime'",
        "for d in /opt/runtime /opt/runtime/bin /opt/runtime/lib/python3*/site-packages; do",
        "  touch $d/evil.pth 2>&1 | tail -1; done; echo 'import os' > /opt/runtime/bin/python 2>&1 | tail -1",
        "echo '== tty'",
        "echo x > /dev/tty 2>&1; echo tty=$?",
        "echo '== cgroup'",
        "cat /proc/self/cgroup; ls /sys/fs/cgroup 2>&1",
        "echo '== end'",
    ])
    async with connect(episode) as client:
        exp = await run(client, script, timeout_sec=60)
        log = full_log(episode, exp)
        assert "== end" in log, log[-3000:]
        # a tmpfs over /workspace inside a private mount namespace only changes that namespace's view
        for word in ("CG2_MOUNTED", "CG1_MOUNTED", "NET_OPEN", "TMPFS_OVER_WORKSPACE", "WROTE_CHECK"):
            assert word not in log, (word, log)
        userns = section(log, "userns", "devices")
        assert userns.count("unshare failed: Operation not permitted") == 3, userns
        assert "ptrace 1 -1 Operation not permitted" in log
        assert log.count("ptrace ") == 3 and " 0 Success" not in log, log
        assert f"euid={AGENT_UID}" in log and "euid=0" not in log
        cgroup = section(log, "cgroup", "end")
        if episode.meta.backend == "docker":  # /sys is an empty tmpfs; the engine adds the container's own cgroups
            assert "ls /sys/fs/cgroup" not in cgroup and "/sys/class" not in log
        else:
            assert "No such file or directory" in cgroup  # no /sys in the sandbox
        assert "Read-only file system" in section(log, "runtime", "tty"), "the shared runtime venv is writable"
        assert not list(episode.runtime.rglob("evil.pth"))
        assert "tty=0" not in section(log, "tty", "cgroup"), "the sandbox has a controlling terminal"
        names = os.listdir(episode.workspace.root)
        assert "sda" not in names and "mem" not in names
        assert os.stat(episode.workspace.root / "suid-sh").st_uid == AGENT_UID
        # the server and the scorer survived and still work
        os.kill(scorer_pid, 0)
        assert episode.scorer.pid == scorer_pid
        again = await run(client, "grep -c hacked check.py; ls")
        assert again["output_tail"].startswith("0\n") and "suid-sh" in again["output_tail"]
        metric = await client.call_tool("get_metric", {})
        assert not metric.is_error and metric.structured_content["valid"] and metric.structured_content["metric"] == 66
        await assert_consistent(client, episode, experiments=[exp, again], experiments_used=2, score_calls=1)
    after = workspace_files(episode)
    assert after["check.py"] == before["check.py"] and after["network.py"] == before["network.py"]


async def test_setuid_bits_do_not_persist_on_the_host(make_episode):
    episode = make_episode()
    async with connect(episode) as client:
        exp = await run(client, "cp /bin/sh suid && chmod 6755 suid && mkdir sgid && chmod 2777 sgid; ls -ld suid sgid")
        assert "rws" in exp["output_tail"]
        await assert_consistent(client, episode, experiments=[exp], experiments_used=1, score_calls=0)
    for name in ("suid", "sgid"):
        mode = os.stat(episode.workspace.root / name).st_mode
        assert not mode & (stat.S_ISUID | stat.S_ISGID), f"{name} kept mode {stat.filemode(mode)} on the host"
