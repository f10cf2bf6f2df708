"""Benchmarks: outside the default test run, each a module run as ``python -m benchmarks.<name>``.

Every benchmark reports ratios against a named baseline measured in the same run (this 2-core
machine is noisy) and writes its figures as JSON under ``out/bench/``. ``make bench`` runs them all.
"""
