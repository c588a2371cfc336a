"""Attack family 3: network from an experiment.

The test process opens listeners the sandbox would love to reach: TCP and UDP on the host's loopback and on
its external address, an abstract-namespace unix socket, and the scorer's own unix socket path. The
experiment tries them all, plus DNS and an outbound connection. Nothing may connect, and no listener may
see a byte.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import socket
import uuid

import pytest

from tests.attacks.helpers import assert_consistent, run
from tests.helpers import connect

pytestmark = pytest.mark.anyio


def external_address() -> str | None:
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 1))  # no packet is sent; this only picks the outgoing interface
        address = s.getsockname()[0]
        return None if address.startswith("127.") else address
    return None


PROBE = r"""
import json, socket, sys
targets = json.loads(sys.argv[1])
def attempt(label, fn, success="OPEN"):
    try:
        fn()
        print(label, success)
    except Exception as exc:
        print(label, "blocked:", type(exc).__name__, exc)
for host, port in targets["tcp"]:
    attempt(f"tcp {host}:{port}", lambda: socket.create_connection((host, port), timeout=2).sendall(b"x"))
for host, port in targets["udp"]:
    def udp():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"x", (host, port))
    attempt(f"udp-send {host}:{port}", udp, "sent (fire and forget: the host listener must not see it)")
def unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect(path)
    s.sendall(b"GET /v1/health HTTP/1.0\r\n\r\n")
for path in targets["unix"]:
    attempt(f"unix {path!r}", lambda: unix(path))
attempt("dns pypi.org", lambda: socket.getaddrinfo("pypi.org", 443))
attempt("dns localhost-external", lambda: socket.getaddrinfo("example.com", 80))
print("DONE")
"""


async def test_no_network_reaches_out_of_the_sandbox(make_episode):
    episode = make_episode()
    abstract = f"\0autolab-attack-{uuid.uuid4().hex}"
    listeners: list[socket.socket] = []
    try:
        tcp_local = socket.socket()
        tcp_local.bind(("127.0.0.1", 0))
        tcp_local.listen()
        tcp_any = socket.socket()
        tcp_any.bind(("0.0.0.0", 0))
        tcp_any.listen()
        udp_any = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp_any.bind(("0.0.0.0", 0))
        unix_abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix_abstract.bind(abstract)
        unix_abstract.listen()
        listeners = [tcp_local, tcp_any, udp_any, unix_abstract]
        for s in listeners:
            s.setblocking(False)
        hosts = ["127.0.0.1"] + ([ext] if (ext := external_address()) else [])
        targets = {
            "tcp": [["127.0.0.1", tcp_local.getsockname()[1]]]
            + [[h, tcp_any.getsockname()[1]] for h in hosts] + [["1.1.1.1", 53], ["8.8.8.8", 443]],
            "udp": [[h, udp_any.getsockname()[1]] for h in hosts] + [["1.1.1.1", 53]],
            "unix": [abstract, str(episode.scorer.socket_path)],
        }
        command = f"python3 -c {shlex.quote(PROBE)} {shlex.quote(json.dumps(targets))}; getent hosts pypi.org; " \
                  "echo getent=$?; ip -brief addr 2>/dev/null || cat /proc/net/dev"
        async with connect(episode) as client:
            exp = await run(client, command, timeout_sec=60)
            out = (episode.run_dir / exp["log_file"]).read_text()
            assert "DONE" in out, out
            assert "OPEN" not in out, out
            assert out.count("blocked:") >= len(targets["tcp"]) + len(targets["unix"]) + 2
            assert "getent=2" in out
            await assert_consistent(client, episode, experiments=[exp], experiments_used=1, score_calls=0)
        for s in (tcp_local, tcp_any, unix_abstract):
            with pytest.raises(BlockingIOError):
                s.accept()
        with pytest.raises(BlockingIOError):
            udp_any.recvfrom(100)
        episode.scorer.client.health()  # the scorer still answers the server
    finally:
        for s in listeners:
            s.close()
