"""Benchmarks: each module is a script that prints ratios measured side by side in one run."""
