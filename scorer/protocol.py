"""Wire models between the server and the scorer (HTTP, JSON, bearer token)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from scorer.evaluate import ScoreRecord
from scorer.harness import Split

MAX_REQUEST_BYTES = 96 * 1024 * 1024


class EvaluateRequest(BaseModel):
    split: Split
    archive_b64: str = Field(description="tar of the editable files, base64")
    request_id: str = ""


class SignedRecord(BaseModel):
    record: ScoreRecord
    signature: str
    key_id: str


class Health(BaseModel):
    ok: bool
    task: str
    backend: str
    isolation: str = "strong"
    isolation_gaps: list[str] = Field(default_factory=list)
