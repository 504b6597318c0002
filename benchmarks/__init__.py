"""Benchmarks of resonance-callback: ``python -m benchmarks [--quick] [--out results.json]``.

Every comparison runs its variants side by side in the same invocation, each
repeat of each variant in a fresh subprocess (so its peak RSS is its own),
interleaved repeat by repeat so that machine noise hits all variants alike;
the table reports medians and ratios of medians. See ``benchmarks/README.md``.
"""
