"""Benchmarks for repe-bot; run them all with ``python -m bench.run_all`` (or ``make bench``).

Every figure is a ratio against a baseline measured in the same process, or a count, because
absolute timings drift on shared machines. No benchmark is a test and nothing here asserts a time.
"""
