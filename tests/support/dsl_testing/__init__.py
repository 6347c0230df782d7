"""Helpers shared by the tests, importable through pytest's `pythonpath = ["tests/support"]`: the installed
console commands (commands.py) and stand-in ONNX models with the artifact's interface (onnx_models.py)."""
