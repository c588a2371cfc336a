"""Hidden evaluation for connect3_golf (runs in the trusted scorer, never in a sandbox).

1. `python run_train.py /output` in a sandbox (60 s): the candidate's train() -> model.npz.
2. The scorer's own pristine golf_rules.py (never the candidate's copy) reads model.npz against the
   schema, counts its weights (the metric) and plays it on the hidden positions in this process:
   no candidate code runs at play time, so there is nowhere to put a game-tree search, a table or a
   file read, and no candidate output reaches a reason.
3. Hidden positions: random play from this evaluation's secret seed (ctx.seed), labelled by the exact
   solver in connect3_game.py; accuracy = share where the move is optimal; gate >= 95%.
"""

from __future__ import annotations

from connect3_game import PUBLIC_SEEDS, Solver, sample_positions

from scorer.harness import EvalContext, Invalid, Measurement, load_rules_module

rules = load_rules_module(__file__, "golf_rules.py")

#: hidden positions per split (drawn afresh from ctx.seed in every evaluation)
HIDDEN_DRAWS = {"feedback": 20_000, "final": 40_000}
TRAIN_TIMEOUT_SEC = 60
GATE = 0.95

TRAINING_FAILED = "training failed"
BELOW_GATE = "the model picks an optimal move on fewer than 95% of the hidden positions"

#: every reason this module gives is a chain of these fixed phrases (and scorer/reasons.py's)
REASONS = frozenset({TRAINING_FAILED, BELOW_GATE}) | rules.PROBLEMS


def hidden_seed(seed: int) -> int:
    """The sampler's seed for this evaluation: never one of the public data's seeds."""
    return seed ^ (1 << 62) if seed in PUBLIC_SEEDS.values() else seed


def hidden_positions(seed: int, split: str, solver: Solver | None = None):
    """(boards, values, optimal) of the hidden split for this seed: same seed, same positions."""
    return sample_positions(hidden_seed(seed), HIDDEN_DRAWS[split], solver)


def evaluate(ctx: EvalContext) -> Measurement:
    train = ctx.run("python run_train.py /output", timeout_sec=TRAIN_TIMEOUT_SEC)
    if failure := train.failure():
        raise Invalid(f"{TRAINING_FAILED}: {failure}", train_seconds=round(train.duration_sec, 2))
    try:
        model = rules.load_model(train.output_dir / "model.npz")
    except rules.ModelError as exc:
        problem = str(exc)
        raise Invalid(problem if problem in rules.PROBLEMS else rules.UNREADABLE) from None
    boards, _values, optimal = hidden_positions(ctx.seed, ctx.split)
    moves = rules.predict(model, boards)
    accuracy = rules.accuracy(moves, optimal)
    parameters = rules.parameters(model)
    details = {"accuracy": round(accuracy, 4), "parameters": parameters, "features": list(model.features),
               "weights": {key: list(value.shape) for key, value in model.weights().items()},
               "positions": len(boards), "train_seconds": round(train.duration_sec, 2)}
    if accuracy < GATE:
        raise Invalid(BELOW_GATE, **details)
    return Measurement(valid=True, metric=float(parameters), details=details)
