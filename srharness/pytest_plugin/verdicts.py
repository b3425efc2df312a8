"""The verdicts a pytest run collected (stashed on its config): written by the plugin's hooks
(core), read by the report hooks (report). A module of its own so neither imports the other."""
from __future__ import annotations

import pytest

from srharness.records import Verdict

VERDICTS_KEY = pytest.StashKey[list]()


def collected_verdicts(config) -> list[Verdict]:
    return list(config.stash[VERDICTS_KEY])
