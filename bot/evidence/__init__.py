"""The evidence an investigation gathers about a failed run: upstream data (`upstream`, `schema`), recent
deploys (`deploys`), the job's config (`job_config`), the previous run (`previous_run`), and when the run failed
and which date it processed (`facts`, `when`).

Every function here reads through the stage's Sandbox and returns a typed result. The offline investigate stage
(bot/offline/investigate.py) decides with them; bot/investigation_tools.py offers them to a model as tools that
return readable, redacted text.
"""
