"""Synthetic data with exactly known truth, for tests, benchmarks and the built-in example.

Needs scikit-image (the ``test`` extra). Nothing outside tests and benchmarks imports this.
"""
