"""TriageReport → compact human text for the terminal, and the pipeline explained for a newcomer."""

from __future__ import annotations

from bot.contract import TriageReport
from bot.topology import Topology

ICONS = {"data": "DATA", "infra": "INFRA", "code": "CODE", "unknown": "UNKNOWN"}
# Log text must not drive the terminal: control characters other than tab and newline become U+FFFD.
_CONTROLS = {c: "\ufffd" for c in [*range(0, 9), *range(11, 32), *range(127, 160)]}


def report_text(r: TriageReport) -> str:
    head = f"{r.job or '(no job)'}" + (f"  run {r.run_id}" if r.run_id else "")
    lines = [
        f"== {head}",
        f"category    {ICONS[r.category]} ({r.certainty}, confidence {r.confidence:.2f})"
        + ("" if r.complete else "  [partial]"),
        f"root cause  {r.root_cause}",
        f"action      {r.action}",
        "escalate    " + r.escalation.team
        + (f" (#{r.escalation.channel})" if r.escalation.channel else "")
        + (f", owners {', '.join(r.escalation.owners)}" if r.escalation.owners else ""),
    ]
    for alt in r.alternatives:
        decide = f" — to decide: {alt.decide}" if alt.decide else ""
        lines.append(f"or perhaps  {ICONS[alt.category]}: {alt.why}{decide}")
    if r.incomplete:
        lines.append("incomplete  " + "; ".join(r.incomplete))
    if r.log_path:
        lines.append(f"log         {r.log_path}")
    if r.fingerprint:
        lines.append(f"fingerprint {r.fingerprint.id} = {r.fingerprint.explain()}")
    lines += [f"memory      {m}" for m in r.memory]
    if r.evidence:
        lines.append("evidence")
        lines += [f"  {e.where()}  {e.text.strip()[:200]}" for e in r.evidence[:8]]
    stages = "  ".join(
        f"{s.name} {s.status} {s.duration_ms:.0f}ms"
        + (f" [fallback: {s.fallback}]" if s.fallback else "")
        + (f" ({s.reason})" if s.reason and s.status != "ok" else "")
        for s in r.stages
    )
    lines.append(f"stages      {stages}  |  total {r.duration_ms:.0f}ms via {r.provider}")
    if r.denied:
        lines.append("denied      " + "; ".join(f"{d.stage}: {d.path} ({d.reason})" for d in r.denied))
    return "\n".join(lines).translate(_CONTROLS)


def explain_text(topo: Topology, enforcement: str) -> str:
    p = topo.pipeline
    out = [f"Pipeline '{p.name}' ({topo.path})"]
    if p.description:
        out.append(f"  {p.description}")
    out.append(f"  whole-triage budget {p.timeout_s:g}s; file access enforcement: {enforcement}")
    if topo.vars:
        out.append("  variables: " + ", ".join(f"{k}={v}" for k, v in topo.vars.items()))
    out.append("")
    for i, s in enumerate(topo.order(), 1):
        after = f" after {', '.join(s.depends_on)}" if s.depends_on else " first"
        out.append(f"{i}. {s.name}  → {s.output_kind}, runs{after}, timeout {s.timeout_s:g}s"
                   + (f", model {s.model}" if s.model else ""))
        out.append(f"   prompt: {s.prompt_file}")
        reads = topo.read_globs(s)
        out.append("   may read: " + (", ".join(reads) if reads else "nothing (works on earlier stages' results)"))
        if s.branch_on:
            out.append(f"   branches on the category from '{s.branch_on}':")
            for cat, br in s.branches.items():
                extra = f"; also reads {', '.join(topo.expand(g) for g in br.read)}" if br.read else ""
                out.append(f"     {cat}: {br.prompt_file or s.prompt_file}{extra}")
    if topo.escalation:
        out.append("")
        out.append("Escalation:")
        for cat, e in topo.escalation.items():
            out.append(f"  {cat}: {e.team}" + (f" in {e.channel}" if e.channel else "")
                       + (f", pings {e.mention}" if e.mention else ""))
    jobs = sorted(j for j in topo.jobs if j != "*")
    listed = f" ({', '.join(jobs[:10])}{'…' if len(jobs) > 10 else ''})" if jobs else ""
    defaults = '; defaults from [jobs."*"]' if "*" in topo.jobs else ""
    out += ["", f"Jobs: {len(jobs)} registered{listed}{defaults}"]
    return "\n".join(out)
