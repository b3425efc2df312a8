"""The srharness pytest plugin, under the name pytest's `pytest11` entry point and conftests use.

The code is srharness.pytest_plugin.core (the pytest layer); this module re-exports its hooks,
fixtures and helpers so that "srharness.plugin" is registered once, whichever way it is loaded.
"""
from srharness.pytest_plugin.core import (  # noqa: F401
    CHECK_MARKERS, OPTIONS, REPORT_PLUGIN, VERDICT_PROPERTY, RequiredHardwareCoverage, VerdictCollector,
    collected_verdicts, export_cache_dir, get_option, golden_dir, load_registrations, pytest_addhooks, pytest_addoption,
    pytest_configure, pytest_runtest_setup, required_hardware, resolve_weights, sr_data_dir, sr_export, sr_export_cache,
    sr_golden_dir, sr_model, sr_record, sr_weights_dir)
