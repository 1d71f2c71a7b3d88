"""Helpers of ``benchmarks/benchmark.py`` (SADI-Net against stock MMPose
models).

Modules:
    models: config loading, input-size overrides, model building and
        MMPose-style random data samples.
    measure: parameter / FLOP counting, training throughput, inference
        latency, peak memory, matmul peak rate.
    report: markdown tables, notes and atomic writing with ``.prev`` backups.
"""
