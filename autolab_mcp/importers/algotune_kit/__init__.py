"""Files copied into every task `autolab-mcp import algotune` writes (standalone: no autolab_mcp imports)."""
