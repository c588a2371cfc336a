"""Scripted attacks on autolab-mcp: each drives a real episode over MCP and checks the attack fails."""
