"""Console commands (dsl-train, dsl-export, dsl-build, dsl-bench, dsl-infer, dsl-eval, dsl-env)."""
