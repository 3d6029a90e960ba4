"""A Slack message → `Recognition`: failure or not and why, who sent it, job, run id, task, try, log hint.

Deterministic and linear in the message's size: `text.read_message` bounds what is read, `state.decide` finds
the run's state in one token pass, `fields.candidates` collects names from labels, URLs and the tools' own
wording, and `match.choose_job` matches them against the topology's registered jobs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from bot.alerts import fields as F
from bot.alerts.match import JobMatch, Registry, choose_job
from bot.alerts.senders import Sender, identify
from bot.alerts.state import decide
from bot.alerts.text import Message, read_message
from bot.contract import Alert
from bot.topology import Topology

RUN_ID_RE = re.compile(r"[\w.:+\-%@]{1,200}")


@dataclass(frozen=True)
class Recognition:
    failure: bool
    reason: str
    sender: Sender
    job: str | None = None
    job_how: str | None = None
    job_note: str | None = None
    job_raw: str | None = None
    run_id: str | None = None
    task: str | None = None
    try_number: str | None = None
    log_hint: str | None = None
    log_url: str | None = None
    text: str = ""
    truncated: bool = False

    @property
    def triageable(self) -> bool:
        """A failure we can act on: a job, or a log path to read."""
        return self.failure and bool(self.job or self.log_hint)

    def alert(self) -> Alert:
        return Alert(job=self.job, run_id=self.run_id, task=self.task, log_hint=self.log_hint,
                     try_number=int(self.try_number) if self.try_number else None,
                     source=self.sender.source, text=self.text[:4000])

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sender"] = asdict(self.sender)
        d.pop("text")
        return d


def recognise(event: Mapping[str, Any], topology: Topology | None = None, *, channel: str | None = None,
              trust_person: bool = False) -> Recognition:
    """What the message says. A person's words are never read as an alert (unless the person is an allowed
    sender for the channel, or `trust_person`: someone asked the bot explicitly)."""
    spec = topology.alerts if topology is not None else None
    msg = read_message(event)
    plain = msg.text()
    allowed = spec.allowed_senders(channel or _s(event.get("channel"))) if spec is not None else ()
    sender = identify(event, plain, allowed)
    if not sender.is_bot and not trust_person:
        why = ("sent by a person, not a bot or app: people are asked with /triage or by mentioning the bot"
               if sender.kind == "person" else "no sender (neither a bot nor a user)")
        return Recognition(False, why, sender, text=plain, truncated=msg.truncated)
    verdict = decide(msg, failure_words=(spec.failure_words or None) if spec else None,
                     late_is_failure=bool(spec and spec.late_is_failure))
    found = _details(msg, sender.source, topology)
    return Recognition(verdict.failure, verdict.reason, sender, text=plain, truncated=msg.truncated, **found)


def _details(msg: Message, source: str, topology: Topology | None) -> dict[str, Any]:
    cands = _configured(msg, topology) + F.candidates(msg, source)
    best: dict[str, F.Candidate] = {}
    for c in cands:
        if c.role not in best or c.weight > best[c.role].weight:
            best[c.role] = c
    ranked = sorted((c for c in cands if c.role == F.JOB), key=lambda c: -c.weight)
    jobs = _unique([c.value for c in ranked])
    firm = _unique([c.value for c in ranked if c.weight >= F.FIRM])
    registry = Registry(topology.jobs if topology is not None else ())
    match: JobMatch | None = choose_job(jobs, registry, msg.text(), _unique(F.quoted_names(msg)), firm)
    run_id = best[F.RUN].value if F.RUN in best else None
    if run_id and not RUN_ID_RE.fullmatch(run_id):
        run_id = None
    log = best.get(F.LOG)
    log_url = best.get(F.LOG + "_url")
    log_hint = log.value if log and log.value.startswith("/") else None
    return {
        "job": match.name if match else None, "job_how": match.how if match else None,
        "job_note": match.note if match else None, "job_raw": match.raw if match else None, "run_id": run_id,
        "task": best[F.TASK].value if F.TASK in best else None,
        "try_number": best[F.TRY].value if F.TRY in best and _is_number(best[F.TRY].value) else None,
        "log_hint": log_hint, "log_url": (log_url.value if log_url else (log.value if log and not log_hint else None)),
    }


def _is_number(text: str) -> bool:
    """ASCII digits only: `"²".isdigit()` is true, and `int("²")` would fail the alert's intake."""
    return text.isascii() and text.isdigit()


def _configured(msg: Message, topology: Topology | None) -> list[F.Candidate]:
    """`[alerts] patterns`: regexes with named groups job, run_id, task, log; run one bounded line at a time,
    on RE2 (linear in the line whatever the pattern)."""
    if topology is None or not topology.alerts.patterns:
        return []
    out: list[F.Candidate] = []
    for pat in topology.alerts.compiled_patterns():
        for part in msg.parts:
            for line in F.lines(part.text):
                for m in pat.finditer(line):
                    for key, value in m.groupdict().items():
                        role = {"job": F.JOB, "run_id": F.RUN, "task": F.TASK, "log": F.LOG}.get(key)
                        if value and role:
                            out.append(F.Candidate(role, F.clean(value), 200, "[alerts] patterns"))
    return out


def parse_alert(event: Mapping[str, Any], topology: Topology | None = None) -> Alert | None:
    """An Alert when the message is a failure alert from a bot (or an allowed sender) that names a job or a
    log; otherwise None."""
    rec = recognise(event, topology)
    return rec.alert() if rec.triageable else None


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))  # first occurrence of each, in order


def _s(value: Any) -> str | None:
    return value if isinstance(value, str) else None
