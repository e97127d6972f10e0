"""Magnitude pruning with ``torch.nn.utils.prune`` and channel removal.

Saving a pruned or shrunk model (sparse or not) is :func:`genre_lab.checkpoint.save`.

Notebook: 07-compression.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import prune

from .. import models
from ..dataset import Dataset
from ..models.cnn import BasicBlock
from ..train import History, TrainConfig


def _blocks(model: nn.Module) -> list[BasicBlock]:
    return [m for m in model.modules() if isinstance(m, BasicBlock)]


def _resize_block(block: BasicBlock, width: int) -> None:
    # Replace the block's inner conv / batch norm / conv with ones of ``width`` channels
    # (ResNet.shape_options then reports the new width, so checkpoints rebuild it).
    conv0, conv1 = block.body[0], block.body[3]
    block.body[0] = nn.Conv2d(conv0.in_channels, width, conv0.kernel_size, stride=conv0.stride,
                              padding=conv0.padding, bias=False)
    block.body[1] = nn.BatchNorm2d(width)
    block.body[3] = nn.Conv2d(width, conv1.out_channels, conv1.kernel_size,
                              padding=conv1.padding, bias=False)


def _contiguous_copy(model: nn.Module) -> nn.Module:
    # torch's pruning flattens weights with .view(), which a channels-last model refuses
    return copy.deepcopy(model).to(memory_format=torch.contiguous_format)


def prunable(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """``(module, "weight")`` of every convolution and linear layer: what pruning touches
    (biases and batch-norm parameters are few and stay).

    Notebook: 07-compression.
    """
    return [(m, "weight") for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def sparsity(model: nn.Module) -> float:
    """Fraction of zeros among the weights of :func:`prunable` layers.

    Notebook: 07-compression.
    """
    weights = [getattr(m, name) for m, name in prunable(model)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    return zeros / sum(w.numel() for w in weights)


def make_permanent(model: nn.Module) -> nn.Module:
    """``prune.remove`` on every pruned parameter: the mask is multiplied into the weight,
    and the weight becomes an ordinary parameter again (zeros included). In place.

    Notebook: 07-compression.
    """
    for module in model.modules():
        for hook in list(module._forward_pre_hooks.values()):
            if isinstance(hook, prune.BasePruningMethod | prune.PruningContainer):
                prune.remove(module, hook._tensor_name)
    return model


def prune_unstructured(model: nn.Module, amount: float, *, permanent: bool = True):
    """A copy of ``model`` with the fraction ``amount`` of its conv/linear weights set to zero:
    those of smallest magnitude over the whole network (global L1, Han et al. 2015), so layers
    with many redundant weights lose more of them.

    Notebook: 07-compression.

    Args:
        permanent: apply :func:`make_permanent`; False keeps the masks on, for
            :func:`fine_tune` (the pruned weights then stay zero while the others train).
    """
    model = _contiguous_copy(model)
    prune.global_unstructured(prunable(model), pruning_method=prune.L1Unstructured,
                              amount=amount)
    return make_permanent(model) if permanent else model


def _channel_targets(model: nn.Module) -> list[tuple[nn.Conv2d, nn.Module | None]]:
    # Residual networks: the first conv of each block (its output channels feed only the
    # block's second conv, so removing them changes no tensor shape outside the block).
    # Plain CNNs: every conv, with the batch norm that follows it, if any.
    blocks = _blocks(model)
    if blocks:
        return [(b.body[0], b.body[1]) for b in blocks]
    pairs = []
    for seq in (m for m in model.modules() if isinstance(m, nn.Sequential)):
        children = list(seq)
        for i, child in enumerate(children):
            if isinstance(child, nn.Conv2d):
                after = children[i + 1] if i + 1 < len(children) else None
                pairs.append((child, after if isinstance(after, nn.BatchNorm2d) else None))
    return pairs


def prune_channels(model: nn.Module, amount: float, *, n: int | float = 2,
                   permanent: bool = True):
    """A copy of ``model`` with the fraction ``amount`` of each target conv's output channels
    zeroed: those whose filters have the smallest Ln norm (``prune.ln_structured``, dim 0).

    Notebook: 07-compression.

    Targets are the inner convolutions of residual blocks (see :func:`shrink`), or every
    convolution of a plain CNN. The batch norm after a pruned channel is masked too (scale
    and shift zero), so the channel's output is exactly zero and :func:`shrink` can cut it.
    """
    model = _contiguous_copy(model)
    for conv, norm in _channel_targets(model):
        prune.ln_structured(conv, "weight", amount=amount, n=n, dim=0)
        keep = conv.weight_mask.amax(dim=(1, 2, 3))
        for module, name in ([(norm, "weight"), (norm, "bias")] if norm is not None else []) + \
                ([(conv, "bias")] if conv.bias is not None else []):
            prune.custom_from_mask(module, name, keep)
    return make_permanent(model) if permanent else model


@torch.no_grad()
def shrink(model: nn.Module) -> nn.Module:
    """A copy of a channel-pruned residual network with its dead inner channels removed: each
    block's first conv, batch norm and second conv get narrower, so the model has fewer
    parameters, a smaller file and fewer multiply-adds. Exact: a removed channel was zero
    after its batch norm. Models without residual blocks come back unchanged.

    Notebook: 07-compression.
    """
    model = make_permanent(_contiguous_copy(model))
    for block in _blocks(model):
        conv0, norm, conv1 = block.body[0], block.body[1], block.body[3]
        keep = ((norm.weight != 0) | (norm.bias != 0)).nonzero().flatten()
        if len(keep) == conv0.out_channels:
            continue
        if len(keep) == 0:  # keep one channel: a zero-width conv cannot run
            keep = torch.tensor([0])
        _resize_block(block, len(keep))
        block.body[0].weight.copy_(conv0.weight[keep])
        new_norm = block.body[1]
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(new_norm, name).copy_(getattr(norm, name)[keep])
        new_norm.num_batches_tracked.copy_(norm.num_batches_tracked)
        new_norm.eps, new_norm.momentum = norm.eps, norm.momentum
        block.body[3].weight.copy_(conv1.weight[:, keep])
    return model.eval()


def fine_tune(model: models.Classifier, data: Dataset, *, epochs: int = 1, lr: float = 3e-4,
              progress: bool = False) -> History:
    """Train a pruned (masks on) or shrunk model a little more on the training side, with the
    course's loop (:func:`genre_lab.train.fit`: best validation epoch kept, input
    standardisation unchanged). In place.

    Notebook: 07-compression.
    """
    from ..train import fit

    train_x, train_y, val_x, val_y = data.fit_arrays(model.kinds)
    cfg = TrainConfig(epochs=epochs, lr=lr, normalize=False)
    history = fit(model, train_x, train_y, val_x, val_y, cfg, progress=progress)
    return history
