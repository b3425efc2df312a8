"""Reusable check classes. A suite module subclasses them with a `Test` prefix and sets the
class attributes (model, scale, ...); the checks themselves live here, once."""
