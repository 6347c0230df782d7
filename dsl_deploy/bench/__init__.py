"""Benchmarks: per-stage ms and MB of the whole pipeline, beside the paper's Table 1 (see dsl-bench)."""
