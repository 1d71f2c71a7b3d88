"""Helpers of ``benchmarks/benchmark.py``.

Modules:
    models: config loading, input-size overrides, model building and
        MMPose-style random data samples.
    measure: parameter / FLOP counting, the one timing loop
        (:func:`measure.time_calls`), training steps, memory, peak rate.
    records: the record schema, its markdown renderer, atomic writing.
    torch_modes, onnx_mode, profile_mode, runner_mode: the modes.
"""
