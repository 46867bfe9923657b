"""Side-by-side benchmarks against the libraries users would pick instead.

Run with ``make bench`` (``python -m benchmarks``). Every suite measures our
implementation and its peers in the same process and run, and reports ratios,
so results are comparable across machines. Tests never assert timings.
"""
