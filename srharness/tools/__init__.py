"""Vendor tools: running them (process), their command lines and files (ascend, vacc, tensorrt), and parsing their logs (logs)."""
