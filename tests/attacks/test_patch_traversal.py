"""Attack family 13: path traversal in a patch's file headers.

`+++ b/../../x`, `+++ /etc/x`, `+++ b/network.py/../../x`, quoted and octal-escaped names, git rename/copy
headers, and a traversal hidden behind a valid first section: each patch is refused as a whole, and no file
of that name appears anywhere (workspace, run dir, runs dir, /etc, /tmp).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from tests.attacks.helpers import assert_consistent, baseline_network, workspace_files
from tests.helpers import connect, refused

pytestmark = pytest.mark.anyio


def create(name: str) -> str:
    return f"--- /dev/null\n+++ {name}\n@@ -0,0 +1 @@\n+pwned\n"


def traversal_patches(episode, tag: str) -> list[str]:
    run_dir = episode.run_dir
    first = baseline_network(episode).splitlines()[0]
    valid_section = f"--- a/network.py\n+++ b/network.py\n@@ -1 +1,2 @@\n {first}\n+# harmless\n"
    x = f"pwned-{tag}"
    return [
        create(f"b/../../{x}"),
        create(f"b/../{x}"),
        create(f"/etc/{x}"),
        create(f"/tmp/{x}"),
        create(f"b//etc/{x}"),
        create(f"b/network.py/../../{x}"),
        create(f"b/./../{x}"),
        create(f"{run_dir}/{x}"),
        create(f"{run_dir}/result.json"),
        create(f'"b/\\056\\056/{x}"'),
        create(f'"b/..\\057{x}"'),
        create(f"b/..\\{x}"),
        create(f"b/\uff0e\uff0e/{x}"),
        f"--- a/network.py\n+++ b/../{x}\n@@ -1 +1 @@\n-{first}\n+pwned\n",
        f"--- a/../../{x}\n+++ b/network.py\n@@ -1 +1 @@\n-{first}\n+pwned\n",
        valid_section + create(f"b/../{x}"),
        f"diff --git a/network.py b/../{x}\nsimilarity index 100%\nrename from network.py\nrename to ../{x}\n",
        f"diff --git a/network.py b/../../{x}\nsimilarity index 100%\ncopy from network.py\ncopy to ../../{x}\n",
        f"diff --git a/../{x} b/../{x}\nnew file mode 100644\n--- /dev/null\n+++ b/../{x}\n@@ -0,0 +1 @@\n+pwned\n",
        f"diff --git a/network.py b/network.py\ndeleted file mode 100644\n--- a/../../{x}\n+++ /dev/null\n"
        f"@@ -1 +0,0 @@\n-{first}\n",
    ]


def planted(root: Path, name: str) -> list[str]:
    found = []
    for dirpath, _dirs, names in os.walk(root):
        found += [os.path.join(dirpath, n) for n in names if name in n]
    return found


async def test_traversal_headers_are_refused_and_write_nothing(make_episode, tmp_path):
    episode = make_episode()
    tag = secrets.token_hex(4)
    before = workspace_files(episode)
    async with connect(episode) as client:
        for patch in traversal_patches(episode, tag):
            message = await refused(client, "apply_patch", {"patch": patch})
            assert message, patch
            assert workspace_files(episode) == before, f"a refused patch changed the workspace: {patch}"
        await assert_consistent(client, episode, experiments_used=0, score_calls=0)
    assert (episode.workspace.root / "network.py").read_text() == baseline_network(episode)
    assert not (episode.run_dir / "result.json").exists()
    assert planted(tmp_path, tag) == []
    for directory in ("/etc", "/tmp", "/", str(episode.task.root), str(episode.task.root.parent)):
        assert not any(tag in n for n in os.listdir(directory)), directory
    assert len(episode.workspace.history()) == 1, "a refused patch must not record a snapshot"
