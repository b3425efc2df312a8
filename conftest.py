pytest_plugins = ("srharness.plugin",)
