"""Super-resolution: the model catalogue, the ncnn and PyTorch runs of its networks, and the
model processes that own a GPU and batch every task process's tiles.

``catalog`` imports neither numpy nor ncnn nor torch, so the API and the worker loop can
validate and plan with it; the rest loads only in the processes that run models.
"""
