"""Export: ONNX (with a parity check against PyTorch) and TensorRT engines."""
