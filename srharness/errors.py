"""The one error base of srharness.

Every error a user can fix by changing their input (a file, a flag, a config value) derives from
`SrHarnessError`. The CLI and the pytest plugin map it by type: its message is printed in one line,
no traceback. Anything else that escapes is a bug of ours and keeps its traceback.

Subclasses keep their historical builtin bases too (ValueError, RuntimeError, ...) so callers that
catch those keep working.
"""
from __future__ import annotations


class SrHarnessError(Exception):
    """A user-facing error: the message names the file or value at fault and the fix.

    `subject` (optional) is the file path or value the error is about, for tools that want it
    without parsing the message (the CLI's --json error object carries it).
    """

    def __init__(self, *args, subject: str | None = None):
        super().__init__(*args)
        self.subject = subject


class UsageError(SrHarnessError, ValueError):
    """A flag, environment variable or config key with a value we cannot use."""


class InputError(SrHarnessError, ValueError):
    """An input file (model, checkpoint, image, log, YAML, shard) that is malformed or hostile."""


class OutputPathError(SrHarnessError, ValueError):
    """A destination we refuse to write: not a regular file, outside its folder, not writable."""
