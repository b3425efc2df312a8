"""Reusable check classes. A suite module subclasses them with a `Test` prefix and sets the
class attributes (model, scale, ...); the checks themselves live here, once."""


class ModelChecks:
    """The attributes every check class is keyed by: the registered model and its scale."""
    model: str
    scale: int = 2
