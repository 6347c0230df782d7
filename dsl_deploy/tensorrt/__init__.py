"""TensorRT: target profiles, engine builder (FP16/INT8), calibration, sidecar, and the engine backend.

Importing this package (and its profiles, sidecar, onnx_check and calibration modules) needs neither
TensorRT nor a GPU; `builder` and `backend` import TensorRT and cuda-python only when they run.
All TensorRT version differences are in `compat`.
"""
