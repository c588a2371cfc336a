"""Agents for `autolab-mcp eval`: the scripted reference agent and LLM tool-use loops (Anthropic, OpenAI-compatible).

Every agent talks to the server only over MCP, through a `RecordingClient` that
writes the episode's trajectory (clients/TRAJECTORY.md).
"""

from clients.agents.base import Agent, AgentError, AgentOptions, EpisodeContext, agent_slug, make_agent
from clients.agents.trajectory import RecordingClient, Trajectory, load_trajectory

__all__ = ["Agent", "AgentError", "AgentOptions", "EpisodeContext", "RecordingClient", "Trajectory", "agent_slug",
           "load_trajectory", "make_agent"]
