"""srharness: a pytest-based conformance suite for deploying super-resolution models."""
__version__ = "0.1.0"
