"""The shared kernel: what both the agent-facing server and the trusted scorer stand on.

Task spec, the one editable-path policy, sandboxes, timing-core leases, runtimes, the
run-directory files and the wire protocol live here. Nothing in this package imports the
server side (`autolab_mcp.server`, `episode`, `workspace`, ...) or the scorer; the import
contracts in pyproject.toml fail the build if that changes.
"""

from autolab_mcp.core.errors import AutolabError, Refusal
from autolab_mcp.core.rundir import RunDir, RunMeta
from autolab_mcp.core.safedir import SafeDir

__all__ = ["AutolabError", "Refusal", "RunDir", "RunMeta", "SafeDir"]
