"""Every bundled task draws its hidden inputs from ctx.seed: no constant seed is left in it, and none is shown."""

from __future__ import annotations

import pytest

from autolab_mcp.core.taskdirs import bundled_tasks_dir, list_tasks
from tests.tasks.helpers import hidden, task

NAMES = [t.name for t in list_tasks([bundled_tasks_dir()])]


@pytest.mark.parametrize("name", NAMES)
def test_hidden_inputs_have_no_constant_seed(name: str) -> None:
    """Hidden inputs come from ctx.seed (a secret per run), so no constant seed is left to leak or memorize;
    a task that kept SEEDS would at least have to keep them out of what the agent sees."""
    module = hidden(name)
    t = task(name)
    seeds = getattr(module, "SEEDS", {})
    assert not seeds or (set(seeds) == {"feedback", "final"} and len(set(seeds.values())) == 2)
    secrets = [str(v) for v in seeds.values()] + [f"{v:_}" for v in seeds.values()]
    visible = [p for p in t.environment_dir.rglob("*") if p.is_file() and p.suffix in {".py", ".md", ".txt"}]
    for path in [*visible, t.root / "instruction.md", t.root / "task.toml"]:
        text = path.read_text(errors="replace")
        for secret in secrets:
            assert secret not in text, f"{path} reveals the hidden seed {secret}"
    assert not hasattr(module, "SEEDS")
    source = (t.tests_dir / "evaluate.py").read_text()
    assert "Random(" not in source.replace("random.Random(seed)", "")
    assert not any(p.name.startswith(".") for p in t.environment_dir.rglob("*"))
