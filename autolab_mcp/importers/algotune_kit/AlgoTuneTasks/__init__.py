"""Our stand-in for AlgoTune's package: only `base.Task` and `base.register_task` (see base.py)."""
