"""A minimal stand-in for AlgoTune's `AlgoTuneTasks.base`, enough for its task files to import and run.

Upstream's base module pulls in its whole harness (AlgoTuner: config loading, datasets from the Hub,
an in-process benchmark, multiprocessing pools). Our scorer does all of that itself, outside the
solver's process, so a task file needs only what it subclasses and calls: `Task` (its constructor's
attributes, and `solve` as the oracle) and the `register_task` decorator.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

TASK_REGISTRY: dict[str, type] = {}


def register_task(name: str):
    """Record the class under `name` (the first registration wins, as upstream)."""

    def decorator(cls: type) -> type:
        TASK_REGISTRY.setdefault(name, cls)
        return cls

    return decorator


class Task(ABC):
    """What AlgoTune's task classes inherit. The three methods are each task's own; a class missing one
    cannot be instantiated (TypeError naming it), rather than fail later in the middle of an evaluation."""

    def __init__(self, n: int | None = None, dataset_size: int | None = None, target_time_ms: int | None = None,
                 data_dir: str | None = None, **kwargs: Any) -> None:
        self.task_name = type(self).__name__
        self.k: int | None = None
        self.oracle = self.solve
        self.n = n
        self.dataset_size = dataset_size
        self.target_time_ms = target_time_ms
        self.data_dir = data_dir

    @abstractmethod
    def generate_problem(self, n: int, random_seed: int = 1) -> Any:
        """A problem of size n, determined by the seed."""

    @abstractmethod
    def solve(self, problem: Any) -> Any:
        """The reference solution (the baseline our scorer times)."""

    @abstractmethod
    def is_solution(self, problem: Any, solution: Any) -> bool:
        """Whether `solution` solves `problem` (run by the scorer, outside the solver's sandbox)."""
