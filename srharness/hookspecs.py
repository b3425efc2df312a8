"""pytest hooks srharness adds (a conftest.py or pytest plugin implements them)."""
import pytest


@pytest.hookspec(historic=True)
def pytest_srharness_register(registry):
    """Register models, protocols, backends or hardware: `registry` is the srharness.registry
    module (`registry.register_model(registry.ModelSpec(...))`). Called once per process at
    configure time; a conftest.py loaded later during collection is called when it registers."""
