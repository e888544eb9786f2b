"""Drill scenarios users edit: one YAML file per rehearsal (see `ooda drill list`)."""
