"""The contract between stages, providers, the CLI and Slack: typed, serialisable results."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

Category = Literal["data", "infra", "code", "unknown"]
CATEGORIES: tuple[Category, ...] = ("data", "infra", "code", "unknown")
OutputKind = Literal["classification", "investigation", "recommendation", "text"]
StageStatus = Literal["ok", "failed", "timeout", "skipped"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Alert(_Model):
    """What we know about the failed run before reading anything."""

    job: str | None = None
    run_id: str | None = None
    task: str | None = None
    try_number: int | None = Field(None, description="the alert's attempt (Airflow's try number), when it says")
    log_hint: str | None = Field(None, description="a log path or URL mentioned by the alert")
    source: str = Field("cli", description="cli | slack | airflow | dagster | dbt | datadog | webhook | …")
    text: str = Field("", description="the alert's text as posted, for context only")


class Evidence(_Model):
    """One log (or file) line that supports a conclusion. `line` is 1-based; None when unknown."""

    path: str
    line: int | None = None
    text: str

    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


class Alternative(_Model):
    """The runner-up reading of an ambiguous failure, said out loud instead of hidden in the confidence."""

    category: Category
    why: str = Field(description="why this reading is also plausible")
    decide: str = Field("", description="the evidence that would settle it")


class Classification(_Model):
    """Output of `classify`: which team's problem this is, and why."""

    category: Category
    confidence: float = Field(ge=0, le=1)
    signature: str | None = Field(None, description="id of the rule or pattern that decided it")
    summary: str = Field(description="one line: what failed, with specifics")
    evidence: list[Evidence] = Field(default_factory=list)
    facts: dict[str, str] = Field(default_factory=dict, description="column, table, host, exit_code, …")
    alternatives: list[Alternative] = Field(default_factory=list, description="other honest readings")


CHECK_NOT_DONE = "investigation"   # Finding.source of a check that could not be done: the report is incomplete


def displayable(text: str) -> str:
    """`text` safe to encode as UTF-8: a non-UTF-8 file name (lone surrogates from surrogateescape) shows
    its bytes as `\\xNN` instead of failing the JSON, the terminal or Slack."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class Finding(_Model):
    """One fact established while investigating (a deploy, a missing partition, a changed header)."""

    source: str = Field(description="log | upstream | deploys | config | previous_run | … | investigation "
                        "(a check that could not be done; the report is then incomplete)")
    summary: str
    action: str | None = Field(None, description="what this finding suggests doing, if anything")
    evidence: list[Evidence] = Field(default_factory=list)


class Investigation(_Model):
    """Output of `investigate`: the evidence gathered, and the category it supports."""

    category: Category
    confidence: float = Field(ge=0, le=1)
    summary: str
    findings: list[Finding] = Field(default_factory=list)


class Escalation(_Model):
    team: str
    channel: str | None = None
    mention: str | None = None
    owners: list[str] = Field(default_factory=list)


class Recommendation(_Model):
    """Output of `recommend`: what broke, what to do, and who should do it.

    A stage answers without `escalation` (it is not in the schema a model sees): the engine attaches it from
    the configuration (`EscalationPolicy`) after the last stage."""

    category: Category
    confidence: float = Field(ge=0, le=1)
    root_cause: str
    action: str
    escalation: SkipJsonSchema[Escalation | None] = None
    evidence: list[Evidence] = Field(default_factory=list)
    alternatives: list[Alternative] = Field(default_factory=list, description="other honest readings")


class Fingerprint(_Model):
    """Which failure this is (bot/fingerprint.py): the same on another day, run or worker; different for
    another column, table or database. Built from the deterministic reading of the log, never model text."""

    id: str = Field(description="16 hex digits: hash of version, signature, category, template, facts")
    signature: str = Field(description="the deciding signature or taxonomy id (`model`: the learned fallback)")
    category: Category = Field(description="the deterministic reading's category")
    template: str = Field(description="the root error line with run-specific values masked")
    facts: dict[str, str] = Field(default_factory=dict, description="names kept: column, table, host, …")
    infra_key: str | None = Field(None, description="infra only: the host/warehouse/bucket/service it names")

    def explain(self) -> str:
        named = " ".join(f"{k}={v}" for k, v in sorted(self.facts.items()))
        return f"{self.signature} · {self.category} · {self.template}" + (f" · {named}" if named else "")


class Correction(_Model):
    """A confirmed "Wrong diagnosis" of this fingerprint by this team: what it really was, and who said so."""

    category: Category
    cause: str | None = None
    user: str
    at: float = Field(description="epoch seconds")


class Resolution(_Model):
    """How the team last resolved this fingerprint ("Resolved" with a note)."""

    note: str
    user: str
    at: float


class Memory(_Model):
    """What the store knows of a fingerprint for a team, handed to the engine as data (it never reads the store)."""

    lines: list[str] = Field(default_factory=list, description="shown on the report as they are")
    correction: Correction | None = None
    resolution: Resolution | None = None


class Text(_Model):
    """Output of a free-form stage (`output = "text"`)."""

    text: str


OUTPUT_MODELS: dict[str, type[BaseModel]] = {
    "classification": Classification,
    "investigation": Investigation,
    "recommendation": Recommendation,
    "text": Text,
}


class StageResult(_Model):
    name: str
    status: StageStatus
    output_kind: OutputKind
    output: dict[str, Any] | None = None   # the stage's output model as model_dump() gives it
    reason: str | None = Field(None, description="why the stage failed or was skipped")
    branch: str | None = None
    provider: str
    model: str | None = None
    fallback: str | None = Field(None, description="why the offline engine produced this stage, if it did")
    round_trips: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    duration_ms: float = 0.0


class AuditEntry(_Model):
    stage: str
    path: str
    allowed: bool
    reason: str | None = None
    bytes_read: int = 0


class TriageReport(_Model):
    """Everything one triage produced. Top-level fields come from the last stage that decided them."""

    job: str | None
    run_id: str | None = None
    log_path: str | None = None
    category: Category
    confidence: float
    root_cause: str
    action: str
    escalation: Escalation
    evidence: list[Evidence] = Field(default_factory=list)
    stages: list[StageResult] = Field(default_factory=list)
    files_read: list[str] = Field(default_factory=list)
    denied: list[AuditEntry] = Field(default_factory=list)
    provider: str
    duration_ms: float
    sandbox: dict[str, str] = Field(default_factory=dict)
    complete: bool = Field(True, description="False when a stage failed or a check could not be done")
    incomplete: list[str] = Field(default_factory=list, description="why the report is partial, if it is")
    alternatives: list[Alternative] = Field(default_factory=list, description="other honest readings")
    fingerprint: Fingerprint | None = Field(None, description="which failure this is; None without a log reading")
    memory: list[str] = Field(default_factory=list, description="what the team's history says of this failure")
    learned_from: str | None = Field(None, description="the feedback that overrode the engine's answer, if any")

    @property
    def certainty(self) -> str:
        """The word the reply uses for the confidence: it must follow the number, not the tone of the text."""
        return certainty(self.confidence, bool(self.alternatives))


CONFIDENT, LIKELY = 0.7, 0.55


def certainty(confidence: float, has_alternatives: bool = False) -> str:
    """'confident' at >= 0.7, 'likely' at >= 0.55 (clearly better than a coin), else 'unsure' (with a runner-up:
    'unsure, two readings')."""
    if confidence >= CONFIDENT:
        return "confident"
    if confidence >= LIKELY:
        return "likely"
    return "unsure, two readings" if has_alternatives else "unsure"
