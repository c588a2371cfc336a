"""The one error root, and the line between a refusal and a fault.

Every error autolab raises on purpose derives from `AutolabError`. `Refusal` is the part the caller
can act on: the request was not carried out, nothing was charged, and the message (one line, written
for an agent, never echoing a candidate-chosen value) says what is allowed. The MCP server turns
`Refusal`, and only `Refusal`, into a tool error the model reads; anything else is a fault of ours
and reaches the agent as an internal error, never dressed as a policy message.

Checks that must stay `ValueError` for pydantic (validators) raise it inside the model, and the
model's loader wraps the ValidationError in a subclass of these.
"""

from __future__ import annotations

__all__ = ["AutolabError", "Refusal"]


class AutolabError(Exception):
    """Root of every error autolab raises on purpose (server, scorer and clients alike)."""


class Refusal(AutolabError):
    """A request refused with a reason written for the caller; nothing was done or charged."""
