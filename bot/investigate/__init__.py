"""Investigation context for a failed run: upstream data, recent deploys, the job's config, previous runs.

Every function here reads through the stage's Sandbox and returns a typed result; `bot.investigate.specs`
wraps them as model-callable tools that return readable, redacted text.
"""
