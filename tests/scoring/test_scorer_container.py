"""The trusted scorer in its own container (podman), end to end.

What this proves: the image builds offline from this checkout; sandboxes inside the container get
real cgroups pinned to the timing core (not a silent rlimit fallback); the container and the host
lease the same timing core; and a server that holds only a task's public bundle, in a mount
namespace where the repository's tests/ and solution/ are empty, plays a whole episode against it,
with a result that verifies with the scorer's public key alone (the private key never leaves the
container).

Needs root and podman; skipped without them, except under CI, where it must run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client

from autolab_mcp.core.cores import lease_timing_core, timing_core
from autolab_mcp.core.taskdirs import find_task
from clients.demo import hidden_files_seen, hidden_from_server
from clients.scripted import run_episode, server_params

ROOT = Path(__file__).resolve().parents[2]
TASK = "edit_distance"
TAG = "test"

if not os.environ.get("CI") and (os.geteuid() != 0 or not shutil.which("podman")):
    pytest.skip("needs root and podman (scripts/podman-service.sh start installs it)", allow_module_level=True)


class Container:
    def __init__(self, env: dict[str, str], host_dir: Path) -> None:
        self.env, self.host_dir = env, host_dir
        self.socket = host_dir / "scorer.sock"
        self.token_file = host_dir / "host.token"
        self.public_key = host_dir / "scorer.pub"

    def script(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["bash", str(ROOT / "scripts" / "scorer-container.sh"), *args], env=self.env,
                              capture_output=True, text=True, timeout=300)
        assert not check or done.returncode == 0, done.stdout + done.stderr
        return done

    def health(self) -> dict:
        with httpx.Client(base_url="http://scorer", transport=httpx.HTTPTransport(uds=str(self.socket)),
                          headers={"authorization": f"Bearer {self.token_file.read_text().strip()}"}) as http:
            answer = http.get("/v1/health")
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture(scope="module")
def container() -> Iterator[Container]:
    host_dir = Path(tempfile.mkdtemp(prefix="autolab-scorer-test-", dir="/run"))
    env = {**os.environ, "TASKS": TASK, "TAG": TAG, "AUTOLAB_SCORER_IMAGE": f"localhost/autolab-scorer:{TAG}",
           "AUTOLAB_SCORER_NAME": "autolab-scorer-test", "AUTOLAB_SCORER_DIR": str(host_dir),
           "AUTOLAB_SCORER_VOLUME": "autolab-scorer-test-state"}
    # always built: seconds when cached, and the container then runs this checkout's code
    built = subprocess.run(["bash", str(ROOT / "scripts" / "build-scorer-image.sh")], env=env,
                           capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr[-4000:]
    box = Container(env, host_dir)
    box.script("start")
    try:
        yield box
    finally:
        box.script("stop", check=False)
        subprocess.run(["bash", str(ROOT / "scripts" / "podman-service.sh"), "podman", "volume", "rm", "-f",
                        "autolab-scorer-test-state"], capture_output=True)
        shutil.rmtree(host_dir, ignore_errors=True)


def test_sandboxes_in_the_container_get_cgroups_pinned_to_the_timing_core(container: Container) -> None:
    health = container.health()
    assert health["tasks"] == [TASK] and health["backend"] == "bwrap" and health["isolation"] == "strong"
    assert health["limits_mode"] == "cgroup"
    probe = container.script("exec", "python", "-m", "scorer.selfcheck", check=False)
    report = json.loads(probe.stdout)
    assert probe.returncode == 0 and report["ok"], probe.stdout + probe.stderr
    assert report["limits_mode"] == "cgroup" and report["cpus_allowed"] == str(timing_core())


def test_the_container_and_the_host_lease_the_same_timing_core(container: Container) -> None:
    inside = ("from autolab_mcp.core.cores import CoreBusy, lease_timing_core\n"
              "try:\n    with lease_timing_core(1.0):\n        print('leased')\n"
              "except CoreBusy:\n    print('busy')\n")
    with lease_timing_core(10):
        held = container.script("exec", "python", "-c", inside)
    free = container.script("exec", "python", "-c", inside)
    assert (held.stdout.strip(), free.stdout.strip()) == ("busy", "leased")


def test_a_server_that_never_saw_the_hidden_files_plays_an_episode_against_the_container(
        container: Container, tmp_path: Path) -> None:
    made = subprocess.run([sys.executable, "-m", "autolab_mcp.cli", "bundle", TASK, str(tmp_path / "bundle")],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    bundle = Path(made.stdout.strip())
    assert sorted(p.name for p in bundle.iterdir()) == ["environment", "instruction.md", "task.toml"]
    run_dir = tmp_path / "runs"
    extra = ["--scorer-url", f"unix:{container.socket}", "--scorer-token-file", str(container.token_file),
             "--scorer-public-key", str(container.public_key)]
    pid_file = tmp_path / "server.pid"
    params = hidden_from_server(server_params(str(bundle), run_dir, extra), ROOT / "tasks", pid_file)
    seen: list[Path] = []

    async def episode() -> dict:
        async with Client(params, read_timeout_seconds=600) as client:
            result = await run_episode(client, find_task(TASK))
            seen.extend(hidden_files_seen(pid_file, ROOT / "tasks" / TASK))
            return result

    result = anyio.run(episode)
    assert (ROOT / "tasks" / TASK / "tests").is_dir() and not seen  # here they exist; the server saw none
    assert result["valid"] and result["score"] >= 0.5, result
    # the host holds the public key, the tokens and the socket; the private key stayed in the container
    assert sorted(p.name for p in container.host_dir.iterdir()) == ["host.token", "scorer.pub", "scorer.sock",
                                                                    "tokens"]
    run_id = Path(result["result_file"]).parent.name
    verify = subprocess.run([sys.executable, "-m", "autolab_mcp.cli", "runs", run_id, "--run-dir", str(run_dir),
                             "--verify", "--public-key", str(container.public_key), "--json"],
                            capture_output=True, text=True, env={k: v for k, v in os.environ.items()
                                                                 if not k.startswith("AUTOLAB_SCORER_")})
    assert verify.returncode == 0 and json.loads(verify.stdout)["verified"], verify.stdout + verify.stderr
    record = json.loads(Path(result["result_file"]).read_text())
    assert container.health()["key_id"] in json.dumps(record)


def test_a_client_that_hangs_up_mid_evaluation_frees_the_containers_timing_core_within_two_seconds(
        container: Container) -> None:
    import base64
    import time

    from autolab_mcp.core.archive import tar_directory_files

    task = find_task(TASK)
    archive = tar_directory_files(task.environment_dir, ["solve.py"])  # the slow baseline: seconds of work
    body = {"task": TASK, "split": "final", "archive_b64": base64.b64encode(archive).decode(), "request_id": "hangup"}
    import threading

    outcome: list[BaseException] = []

    def hang_up() -> None:  # gives up after 3 s and closes the connection, mid-evaluation
        try:
            with httpx.Client(base_url="http://scorer", transport=httpx.HTTPTransport(uds=str(container.socket)),
                              headers={"authorization": f"Bearer {container.token_file.read_text().strip()}"},
                              timeout=3.0) as http:
                http.post("/v1/evaluate", json=body)
        except httpx.ReadTimeout as exc:
            outcome.append(exc)

    client = threading.Thread(target=hang_up)
    client.start()
    deadline = time.monotonic() + 3.0
    while not container.health()["active_evaluations"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert container.health()["active_evaluations"] == 1  # it is being evaluated while the client waits
    client.join()
    hung_up = time.monotonic()
    assert outcome, "the evaluation answered before the client gave up"
    with lease_timing_core(2.0):
        freed_after = time.monotonic() - hung_up
    while container.health()["active_evaluations"] and time.monotonic() - hung_up < 2.0:
        time.sleep(0.05)  # the count drops just after the core is released
    assert freed_after < 2.0 and container.health()["active_evaluations"] == 0
