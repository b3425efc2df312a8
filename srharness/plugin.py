"""The srharness pytest plugin, under the name pytest's `pytest11` entry point and conftests use.

The code is srharness.pytest_plugin.core (the pytest layer); this module carries all of its names
(hooks, fixtures, helpers) so that "srharness.plugin" is registered once, whichever way it is loaded.
"""
from srharness.pytest_plugin import core as _core

globals().update({k: v for k, v in vars(_core).items() if not k.startswith("__")})
