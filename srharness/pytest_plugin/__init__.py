"""The pytest layer: everything pytest calls lives here.

`core`: options, hardware markers, fail-closed hardware coverage, shared fixtures, verdict
collection (registered as "srharness.plugin"); `report`: the report hooks (registered as
"srharness.report"). `srharness.plugin` is the name pytest, conftests and checks import.
"""
