"""The scorer as a service of its own: many tasks, a token per client, and a server that holds only a
task's public part (`autolab-mcp bundle`) and reaches the scorer by URL.

What this proves: a server that never saw tests/ or solution/ runs a whole episode; its result
verifies with the scorer's public key alone; the server process never imports scorer code; and a
server that dies mid-evaluation has its evaluation cancelled within 2 s, its core released.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client

from autolab_mcp.core.cores import lease_timing_core
from autolab_mcp.core.taskdirs import find_task
from clients.scripted import run_episode, server_params

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "tasks"


class Service:
    def __init__(self, socket: Path, tokens: dict[str, str], public_key: Path, proc: subprocess.Popen[bytes]):
        self.socket, self.tokens, self.public_key, self.proc = socket, tokens, public_key, proc

    @property
    def url(self) -> str:
        return f"unix:{self.socket}"

    def http(self, client: str | None = "server-a") -> httpx.Client:
        headers = {"authorization": f"Bearer {self.tokens[client]}"} if client else {}
        return httpx.Client(base_url="http://scorer", transport=httpx.HTTPTransport(uds=str(self.socket)),
                            headers=headers, timeout=30)

    def token_file(self, directory: Path, client: str) -> Path:
        path = directory / f"{client}.token"
        path.write_text(self.tokens[client] + "\n")
        path.chmod(0o600)
        return path


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One scorer service for two tasks (copied into a tasks directory) and two clients."""
    base = tmp_path_factory.mktemp("scorer-service")
    tasks_dir = base / "tasks"
    tasks_dir.mkdir()
    shutil.copytree(find_task("sorting_network").root, tasks_dir / "sorting_network")
    shutil.copytree(FIXTURES / "spin_timed", tasks_dir / "spin_timed")
    tokens = {"server-a": secrets.token_urlsafe(24), "server-b": secrets.token_urlsafe(24)}
    tokens_file = base / "tokens"
    tokens_file.write_text("# clients of this scorer\n" + "".join(f"{n} {t}\n" for n, t in tokens.items()))
    socket_dir = base / "run"
    socket_dir.mkdir(mode=0o700)
    socket = socket_dir / "scorer.sock"
    public_key = base / "scorer.pub"
    env = {k: v for k, v in os.environ.items() if k != "AUTOLAB_SCORER_TOKEN"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scorer", "--tasks-dir", str(tasks_dir), "--listen", f"unix:{socket}",
         "--tokens-file", str(tokens_file), "--public-key-out", str(public_key)],
        env=env, stdout=subprocess.DEVNULL, stderr=open(base / "scorer.log", "wb"))  # noqa: SIM115
    svc = Service(socket, tokens, public_key, proc)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert proc.poll() is None, (base / "scorer.log").read_text()
        if socket.exists():
            try:
                with svc.http() as http:
                    if http.get("/v1/health").status_code == 200:
                        break
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    else:
        pytest.fail("the scorer service did not start")
    yield svc
    proc.terminate()
    proc.wait(10)


def test_version_is_open_and_health_needs_a_known_token(service: Service) -> None:
    with service.http(None) as http:
        version = http.get("/v1/version")
        assert version.status_code == 200 and version.json()["name"] == "autolab-scorer"
        assert http.get("/v1/health").status_code == 401
        wrong = http.get("/v1/health", headers={"authorization": "Bearer " + "x" * 32})
        assert wrong.status_code == 401 and "x" * 32 not in wrong.text
    for client in ("server-a", "server-b"):
        with service.http(client) as http:
            health = http.get("/v1/health").json()
        assert health["client"] == client
        assert health["tasks"] == ["sorting_network", "spin_timed"]
        assert health["key_id"].startswith("ed25519:")
        assert health["public_key"] == service.public_key.read_text().strip()


def test_unknown_task_and_malformed_requests_get_clear_refusals(service: Service) -> None:
    with service.http() as http:
        unknown = http.post("/v1/evaluate", json={"task": "../../etc", "split": "feedback", "archive_b64": ""})
        assert unknown.status_code == 404
        assert "sorting_network, spin_timed" in unknown.json()["error"] and "etc" not in unknown.json()["error"]
        unnamed = http.post("/v1/evaluate", json={"split": "feedback", "archive_b64": ""})
        assert unnamed.status_code == 404, "with two tasks served, a request must name one"
        malformed = http.post("/v1/evaluate", json={"task": "spin_timed", "split": "hidden"})
        assert malformed.status_code == 400 and "feedback|final" in malformed.json()["error"]


def test_a_server_from_a_bundle_runs_an_episode_and_the_result_verifies_with_the_public_key(
        service: Service, tmp_path: Path) -> None:
    made = subprocess.run([sys.executable, "-m", "autolab_mcp.cli", "bundle", "sorting_network", str(tmp_path)],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    bundle = Path(made.stdout.strip())
    assert bundle == tmp_path / "sorting_network"
    assert sorted(p.name for p in bundle.iterdir()) == ["environment", "instruction.md", "task.toml"]
    task = find_task("sorting_network")  # the client (a scripted agent) may know the reference; the server not
    run_dir = tmp_path / "runs"
    extra = ["--scorer-url", service.url, "--scorer-token-file", str(service.token_file(tmp_path, "server-a")),
             "--scorer-public-key", str(service.public_key)]

    async def episode() -> dict:
        async with Client(server_params(str(bundle), run_dir, extra), read_timeout_seconds=600) as client:
            return await run_episode(client, task)

    result = anyio.run(episode)
    assert result["valid"] and result["score"] >= 0.9, result
    run_id = Path(result["result_file"]).parent.name
    verify = subprocess.run([sys.executable, "-m", "autolab_mcp.cli", "runs", run_id, "--run-dir", str(run_dir),
                             "--verify", "--public-key", str(service.public_key), "--json"],
                            capture_output=True, text=True)
    assert verify.returncode == 0 and json.loads(verify.stdout)["verified"], verify.stdout + verify.stderr
    # another key (an attacker's, or a scorer nobody pinned) does not verify it
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from autolab_mcp.core.signatures import public_key_text

    other = tmp_path / "other.pub"
    other.write_text(public_key_text(Ed25519PrivateKey.generate().public_key()) + "\n")
    refused = subprocess.run([sys.executable, "-m", "autolab_mcp.cli", "runs", run_id, "--run-dir", str(run_dir),
                              "--verify", "--public-key", str(other), "--json"], capture_output=True, text=True)
    assert refused.returncode == 1 and not json.loads(refused.stdout)["verified"]


def test_a_server_refuses_a_scorer_that_signs_with_another_key_than_the_pinned_one(
        service: Service, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from autolab_mcp.core.signatures import public_key_text

    other = tmp_path / "other.pub"
    other.write_text(public_key_text(Ed25519PrivateKey.generate().public_key()) + "\n")
    bundle = tmp_path / "sorting_network"
    subprocess.run([sys.executable, "-m", "autolab_mcp.cli", "bundle", "sorting_network", str(tmp_path)], check=True,
                   capture_output=True)
    served = subprocess.run(
        [sys.executable, "-m", "autolab_mcp.cli", "serve", "--task", str(bundle), "--run-dir", str(tmp_path / "r"),
         "--scorer-url", service.url, "--scorer-token-file", str(service.token_file(tmp_path, "server-b")),
         "--scorer-public-key", str(other)], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert served.returncode == 2 and "not the pinned" in served.stderr, served.stderr


SERVER_PROCESS = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import anyio
    from mcp import Client
    from autolab_mcp.core.sandbox import make_backend
    from autolab_mcp.core.taskspec import load_task
    from autolab_mcp.episode import Episode
    from autolab_mcp.scorer_client import RemoteScorer
    from autolab_mcp.server import build_server

    bundle, runs, url, token = sys.argv[1:5]
    task = load_task(bundle, public_only=True)
    scorer = RemoteScorer(url, token, task.name)
    scorer.start()
    episode = Episode.create(task, Path(runs), backend=make_backend("bwrap"), backend_name="bwrap", scorer=scorer)

    async def main():
        async with Client(build_server(episode)) as client:
            listed = await client.call_tool("list_files", {})
            metric = await client.call_tool("get_metric", {})
            return [listed.is_error, metric.is_error]

    errors = anyio.run(main)
    episode.close()
    loaded = sorted(m for m in sys.modules if m == "scorer" or m.startswith("scorer."))
    print(json.dumps({"errors": errors, "scorer_modules": loaded}))
""")


def test_the_server_process_never_imports_scorer_code(service: Service, tmp_path: Path) -> None:
    bundle = tmp_path / "sorting_network"
    subprocess.run([sys.executable, "-m", "autolab_mcp.cli", "bundle", "sorting_network", str(tmp_path)], check=True,
                   capture_output=True)
    done = subprocess.run([sys.executable, "-c", SERVER_PROCESS, str(bundle), str(tmp_path / "runs"), service.url,
                           service.tokens["server-a"]], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["errors"] == [False, False], "the episode's tools worked through the remote scorer"
    assert report["scorer_modules"] == [], f"the server imported {report['scorer_modules']}"


SLOW_CLIENT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from autolab_mcp.core.archive import tar_directory_files
    from autolab_mcp.scorer_client import ScorerClient

    url, token, baseline = sys.argv[1:4]
    client = ScorerClient(token=token, url=url, task="spin_timed")
    print("asking", flush=True)
    client.evaluate("final", tar_directory_files(Path(baseline), ["solve.py"]))
""")


def test_a_dead_servers_evaluation_is_cancelled_within_two_seconds_and_its_core_released(
        service: Service, tmp_path: Path) -> None:
    client = subprocess.Popen([sys.executable, "-c", SLOW_CLIENT, service.url, service.tokens["server-b"],
                               str(FIXTURES / "spin_timed" / "environment")], stdout=subprocess.PIPE)
    with service.http() as http:
        deadline = time.monotonic() + 120
        while http.get("/v1/health").json()["active_evaluations"] == 0:
            assert time.monotonic() < deadline and client.poll() is None, "the evaluation never started"
            time.sleep(0.05)
        time.sleep(1.0)  # inside the evaluation: sandboxes running, the timing core held
        os.kill(client.pid, signal.SIGKILL)
        killed = time.monotonic()
        client.wait()
        while http.get("/v1/health").json()["active_evaluations"] != 0:
            assert time.monotonic() - killed < 2.0, "the evaluation outlived its client by more than 2 s"
            time.sleep(0.05)
        gone_after = time.monotonic() - killed
        with lease_timing_core(timeout_sec=0.5) as lease:  # the core is free again, at once
            assert lease.waited_sec < 0.5
        assert http.get("/v1/health").status_code == 200, "the shared scorer stays up"
    assert gone_after < 2.0
