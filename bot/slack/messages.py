"""Every user-facing string the Slack bot posts. Values inserted here must already be mrkdwn-escaped."""

from __future__ import annotations

CATEGORY_LABEL = {"data": "DATA", "infra": "INFRA", "code": "CODE", "unknown": "UNKNOWN"}
CATEGORY_EMOJI = {"data": ":bar_chart:", "infra": ":gear:", "code": ":hammer_and_wrench:", "unknown": ":grey_question:"}
STAGE_MARK = {"ok": "✓", "running": "…", "failed": "✗", "timeout": "⏱", "skipped": "–", "pending": ""}

SIGN_OF_LIFE_REACTION = "eyes"

# ------------------------------------------------------------------ progress
TRIAGING = "Triaging `{job}`…"
TRIAGING_NO_JOB = "Triaging this failure…"
REPORT_BELOW = "Triage finished: the report is in the next reply."

# ------------------------------------------------------------------ report
REPORT_FALLBACK = "{job}: {label} problem ({pct}%). {root_cause} Next: {action}"
REPORT_HEADER = "{job}: {label} problem"
REPORT_CONFIDENCE = "*Category* {emoji} {label} · {certainty} ({pct}%){partial}"
ALTERNATIVE = "*Or perhaps* {emoji} {label}: {why}"
ALTERNATIVE_DECIDE = " _To decide:_ {decide}"
PARTIAL = " · _partial: {why}_"
ROOT_CAUSE = "*Root cause*\n{text}"
ACTION = "*Recommended action*\n{text}"
ESCALATION_LINE = "*Escalation* {team}{owners}"
OWNERS = " · owners {owners}"
EVIDENCE_TITLE = "*Evidence*"
EVIDENCE_MORE = "…and {n} more evidence line(s); see the log."
TIMINGS = "{stages} · total {total} · via {provider}"
LOG_LINE = "log `{path}`"
TRUNCATED = " …(truncated)"

MEMORY = ":brain: {line}"
LEARNED = ":mortar_board: Learned from the team: {what}"

# ------------------------------------------------------------------ incidents (alerts of one failure, grouped)
INCIDENT_HEADER = "{job}: {label} problem · {n} jobs affected"
INCIDENT_CONTEXT = ":link: One incident: {alerts} alert(s) from {n} job(s) so far: {jobs}"
SAME_CAUSE = "Same cause as {link}: {root_cause}; {n} job(s) affected so far"
SAME_CAUSE_LINK = "<{permalink}|`{job}`'s report>"
SAME_CAUSE_NO_LINK = "`{job}`'s report"
SAME_CAUSE_FALLBACK = "{job}: same cause as {first}: {root_cause}; {n} job(s) affected so far"

# ------------------------------------------------------------------ buttons
BTN_ESCALATE = "Escalate to {team}"
BTN_RESOLVED = "Resolved"
BTN_WRONG = "Wrong diagnosis"

# ------------------------------------------------------------------ "Wrong diagnosis" modal (titles ≤ 24 chars)
CORRECTION_TITLE = "Wrong diagnosis"
CORRECTION_SUBMIT = "Save"
CORRECTION_CLOSE = "Cancel"
CORRECTION_INTRO = ("I said `{job}` failed because of a *{label}* problem. What was it? Your answer is kept with "
                    "this triage, so the team's history shows the right cause.")
CORRECTION_CATEGORY = "What kind of problem was it?"
CORRECTION_CAUSE = "What was the cause? (optional)"
NOTE_TITLE = "Resolved"
NOTE_SKIP = "Skip"
NOTE_INTRO = ("Marked resolved. How was `{job}` fixed? The next time this failure appears, your note is offered "
              "as the recommended action.")
NOTE_LABEL = "What fixed it? (optional)"
CORRECTION_PICK = "Pick data, infra, code or unknown."

# ------------------------------------------------------------------ outcomes
ESCALATED_THREAD = "<@{user}> escalated to {team}{mention}."
ESCALATION_FAILED = ("<@{user}> the escalation could not be posted ({error}). Check that the bot is a member "
                     "of the escalation channel, then click the button again.")
ESCALATED_NO_CHANNEL = (" No escalation channel is configured for {team}; add `channel = \"C…\"` under "
                        "`[escalation.{key}]` in topology.toml to notify them there.")
ESCALATION_POST = ("{mention}<@{user}> escalated a failed run of `{job}` to {team}: {label} — {root_cause}\n"
                   "<{permalink}|Open the triage thread>")
ESCALATION_POST_NO_LINK = "{mention}<@{user}> escalated a failed run of `{job}` to {team}: {label} — {root_cause}"
ESCALATION_POST_INCIDENT = ("<@{user}> escalated an incident to {team}: {label} — {root_cause}\n"
                            "{n} job(s) affected: {jobs}\n<{permalink}|Open the first report>")
ESCALATION_POST_INCIDENT_NO_LINK = ("<@{user}> escalated an incident to {team}: {label} — {root_cause}\n"
                                    "{n} job(s) affected: {jobs}")
STATUS_ESCALATED = ":arrow_up: Escalated to {team} by <@{user}> {when}"
STATUS_RESOLVED = ":white_check_mark: Marked resolved by <@{user}> {when}"
STATUS_WRONG = ":x: <@{user}> marked this diagnosis wrong {when}"
STATUS_CORRECTED = ":pencil2: <@{user}> says it was {label}: {cause}"
STATUS_CORRECTED_NO_CAUSE = ":pencil2: <@{user}> says it was {label}"
STATUS_RESOLVED_NOTE = ":memo: <@{user}>: {note}"
WHEN = "<!date^{epoch}^{{date_short_pretty}} at {{time}}|{fallback}>"

# ------------------------------------------------------------------ failures
FAILED_HEADER = "Couldn't triage `{job}`"
LOG_NOT_FOUND = ("*I couldn't find the log for this run.*\n{detail}\n"
                 "*What I tried:* the alert's log path (if any), then the newest `*.log` in the job's `logs` "
                 "directory from `[jobs]` in topology.toml{run}.\n"
                 "*What to do:* check that the log exists and that `[jobs]` `logs` points at it, then run "
                 "`/triage {job_arg}`.")
ACCESS_DENIED = ("*I'm not allowed to read that log.*\n{detail}\n"
                 "*What to do:* add its directory to the stage's `read` list in topology.toml, or fix the path "
                 "in the alert, then run `/triage {job_arg}`.")
TRIAGE_ERROR = ("*Triage failed:* {detail}\n*What to do:* read the log yourself for now, and retry with "
                "`/triage {job_arg}`. The bot's log has the traceback.")
INTERRUPTED = ("*Triage was interrupted* because the bot shut down before it finished. "
               "Retry with `/triage {job_arg}`.")
PAUSED = ("*Triage paused* because the bot is restarting. It finishes here, in this message, as soon as the bot "
          "(or another replica) is back.")
GAVE_UP = ("*Triage given up* after {attempts} attempts: each time, the bot stopped before it finished (this "
           "failure may be what stops it; its log says why). Read the job's log yourself for now, or try "
           "`/triage {job_arg}`.")
RUN_TRIED = " (matching run `{run_id}`)"

# ------------------------------------------------------------------ alerts without a job
NO_JOB = ("I see a failure alert{source}{details} but can't tell which job it is. Run `/triage JOB_NAME "
          "[RUN_ID]`, or mention me in this thread with the job's name (`@etl-triage JOB_NAME`).")
NO_JOB_ASKED = ("Which job should I triage? Mention me with its name (`@etl-triage JOB_NAME [RUN_ID]`) or run "
                "`/triage JOB_NAME`. `/triage list` shows the jobs I know.")
NO_JOB_SOURCE = " from *{source}*"
NO_JOB_DETAIL = "{name} `{value}`"
JOB_GUESSED = (":mag: The alert names `{raw}`; no job is registered under that name, so I'm triaging `{job}`, the "
               "closest registered job. If that's wrong, run `/triage JOB_NAME`.")

# ------------------------------------------------------------------ /triage
CMD_ACK = "Triaging `{job}`{run}… the report will be posted in this channel."
CMD_USAGE = ("Usage: `/triage JOB_NAME [RUN_ID]` triages the newest failed run of a job (or that run). "
             "`/triage list` shows the jobs I know.")
CMD_UNKNOWN_JOB = "I don't know a job called `{job}` and found no log for it.{suggest} `/triage list` shows all jobs."
CMD_SUGGEST = " Did you mean {names}?"
CMD_NO_LOG = "No log found for `{job}`{run}: {detail}"
CMD_LIST = "Jobs I know ({n}): {names}"
CMD_LIST_EMPTY = ("No jobs are registered in topology.toml; any job whose logs are under the log root works: "
                  "`/triage JOB_NAME`.")
CMD_NOT_IN_CHANNEL = ("I can't post in this channel. Invite me with `/invite @etl-triage`, then run "
                      "`/triage {job_arg}` again.")
CMD_FAILED = "Triage of `{job}` failed: {detail}"
