"""The vendor samples (tests/fixtures/vendor-samples unless OODA_VENDOR_SAMPLES names another
directory): real Slack, PagerDuty and GitHub payloads, see SOURCES.md."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def sample_path(name: str) -> Path:
    return Path(os.environ["OODA_VENDOR_SAMPLES"]) / name


def vendor_sample(name: str) -> Any:
    """A vendor sample, parsed from JSON."""
    return json.loads(sample_path(name).read_text(encoding="utf-8"))
