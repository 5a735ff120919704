"""What autograd saves for backward, for the memory-light Functions'
tests."""
import torch


def saved_storages(fn):
    """Run ``fn``; its output and the distinct storages autograd saved,
    ``{data_ptr: numel}``."""
    saved = {}

    def pack(t):
        saved[t.untyped_storage().data_ptr()] = t.numel()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, saved
