"""Interop: digitnet networks in other tools' formats, and theirs in digitnet.

- digitnet.interop.onnx:  to_onnx / save_onnx — an ONNX graph computing exactly net.forward
- digitnet.interop.torch: to_torch / from_torch / torch_state_dict — nn.Sequential and its state dict
- digitnet.interop.card:  model_card / write_card — a Hugging Face model card (README.md)

Each module imports its foreign package (onnx, torch, matplotlib) only when called, so
`import digitnet` needs none of them. The scikit-learn estimator is digitnet.sklearn.
"""
