"""`ooda doctor`: is this deployment ready for its first page? Every check the bot would
otherwise fail in the middle of an incident (settings, OODA_CONFIG and playbooks, the database,
Slack, PagerDuty, GitHub, Argo CD), run at once, each under a deadline, each failure with a
next step. `findings` holds what a check returns, `local` and `vendors` the checks, and
`diagnose` runs them all. Nothing is imported here, so `findings` stays light to import."""
