"""The wire protocol between the agent-facing server and the scorer: request and response models only.

Both sides import this module; it imports neither. Everything here crosses a trust boundary as JSON
(HTTP over a unix socket or TCP, with a bearer token), so every field is validated on arrival.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

MAX_REQUEST_BYTES = 96 * 1024 * 1024
#: Bumped when a request or response changes incompatibly; both sides report it in /v1/version.
PROTOCOL_VERSION = 2

#: Which hidden inputs an evaluation uses: feedback during the episode, final once at submit.
Split = Literal["feedback", "final"]


class ScoreRecord(BaseModel):
    """One evaluation, as recorded and signed by the scorer."""

    task: str
    split: Split
    valid: bool
    metric: float | None
    score: float = Field(description="normalized: baseline 0, reference 1, no upper cap")
    reason: str = Field("", description="what the agent sees: fixed phrases only (scorer/reasons.py)")
    reason_detail: str = Field("", description="the task's own reason when it was not a fixed phrase; never shown "
                               "to the agent (it may carry candidate-chosen data)")
    verdict: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    timing: dict[str, Any] | None = None
    files: dict[str, str] = Field(default_factory=dict, description="editable file -> sha256")
    submission_sha256: str = ""
    request_id: str = Field("", description="run_id/snapshot the server asked for: binds the record to a run")
    runs: list[dict[str, Any]] = Field(default_factory=list)
    eval_seconds: float = 0.0
    queued_seconds: float = Field(0.0, description="time spent waiting for the timing core before evaluating")
    seed_sha256: str = Field("", description="commitment to the secret seed of this evaluation's hidden inputs")
    isolation: Literal["strong", "weak"] = Field(
        "strong", description="weak: this host could not isolate the evaluation from concurrent experiments")
    isolation_gaps: list[str] = Field(default_factory=list)
    review: list[str] = Field(default_factory=list, description="why this result is implausible and needs a "
                              "person's review (the task's declared bounds)")



class EvaluateRequest(BaseModel):
    task: str = Field("", description="which served task; may be empty when the scorer serves exactly one")
    split: Split
    archive_b64: str = Field(description="tar of the editable files, base64")
    request_id: str = ""


class SignedRecord(BaseModel):
    record: ScoreRecord
    signature: str
    key_id: str


class Version(BaseModel):
    """Unauthenticated: enough for a client to know what it talks to, nothing more."""

    name: str = "autolab-scorer"
    version: str
    protocol: int = PROTOCOL_VERSION


class Health(BaseModel):
    ok: bool
    version: str = ""
    protocol: int = PROTOCOL_VERSION
    client: str = Field("", description="the name the caller's bearer token belongs to")
    tasks: list[str] = Field(default_factory=list)
    backend: str
    isolation: str = "strong"
    isolation_gaps: list[str] = Field(default_factory=list)
    public_key: str = Field("", description="for first use only: a verifier pins a key file it holds and never "
                            "trusts what an endpoint returns")
    key_id: str = ""
    active_evaluations: int = 0
    limits_mode: str = Field("", description="how the scorer's sandboxes are limited: cgroup (memory, pids, cpu "
                             "and a cpuset), container, or rlimit (weaker: no cpuset, no memory cgroup)")
