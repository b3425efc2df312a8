pytest_plugins = ("srharness.plugin", "srharness.report")
