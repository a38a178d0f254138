"""Benchmarks (`make bench`): figures printed with their ratio to a baseline measured in the same run."""
