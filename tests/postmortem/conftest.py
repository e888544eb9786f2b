"""The `doc` fixture: the constructed incident of tests.helpers.postmortem.make_doc."""

from __future__ import annotations

import pytest

from bot.postmortem.document import PostmortemDoc
from tests.helpers.postmortem import make_doc


@pytest.fixture
def doc() -> PostmortemDoc:
    return make_doc()
