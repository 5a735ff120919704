# Copyright (c) mmhybrid contributors. All rights reserved.
"""The contract every mmhybrid backbone fulfils, written once.

A backbone is a stem followed by ``num_stages`` stages. Subclasses build them
and implement :meth:`forward_stem`, :meth:`forward_stage` and
:meth:`param_position`; this class owns everything around them:

- ``out_indices``: validated, negatives allowed, normalised to sorted indices;
  stages after the last output are never run and their parameters are frozen
  (so DDP never waits for gradients that cannot come);
- ``frozen_stages`` (mmdet semantics): ``-1`` freezes nothing, ``0`` the stem,
  ``k`` the stem and the first ``k`` stages including their output norms;
  applied at construction and kept by :meth:`train`;
- ``norm_eval``: BatchNorm layers stay in eval mode while training;
- ``with_cp``: non-reentrant activation checkpointing of every block;
- inputs: any float NCHW tensor of at least 1x1 pixels, an empty batch and
  channels_last included; outputs are exactly ``ceil(H / stride)`` (stems
  that floor sizes set :attr:`input_divisor`); anything else raises an error
  saying what was expected and what was given;
- ``out_channels`` / ``strides``: declared per output for neck checks;
- ``init_cfg=dict(type='Pretrained', ...)``: official checkpoints load through
  :func:`mmhybrid.models.utils.load_pretrained`, with a report;
- ``get_layer_depth``: layer- and stage-wise ids for LR decay.
"""
import warnings
from abc import ABCMeta, abstractmethod
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from ..utils.checkpoint import STATE_DICT_KEYS, load_pretrained
from ..utils.whole_model import convert_under_prefix, replace_under_prefix

ArchType = Union[str, Dict]


class Stage(nn.Module):
    """A stage of the common layout: ``downsample`` (stages after the first;
    omitted when None) then ``blocks``. :meth:`BaseBackbone.param_position`
    knows this layout (``stem``, ``stages.i.downsample``,
    ``stages.i.blocks.j``).

    Args:
        downsample (nn.Module, optional): Runs before the blocks.
        blocks (list[nn.Module]): The blocks.
    """

    def __init__(self, downsample: Optional[nn.Module],
                 blocks: List[nn.Module]) -> None:
        super().__init__()
        if downsample is not None:
            self.downsample = downsample
        self.blocks = nn.ModuleList(blocks)


class BaseBackbone(BaseModule, metaclass=ABCMeta):
    """Base class of all mmhybrid backbones.

    Subclasses set ``arch_zoo`` (variants) and ``essential_keys`` (keys a
    custom arch dict must define; every arch has ``depths``, one entry per
    stage), call ``super().__init__(arch, **kwargs)`` first and read the
    chosen settings from :attr:`arch_settings`, build ``self.stem`` and
    ``self.stages`` (one module per stage; output norms as
    ``self.norm{i}``), append one :attr:`feature_info` entry per stage where
    they build it, and call :meth:`_freeze_stages` at the end of their
    ``__init__``. The paper's initialisation is declared in
    :attr:`default_init_cfg` (mmengine initializers); a module whose
    initialisation no initializer expresses defines ``init_weights``, which
    mmengine calls after its parents' rules.

    Args:
        arch (str | dict): A key of :attr:`arch_zoo` or a dict of settings
            (see :meth:`parse_arch`).
        in_channels (int): Channels of the input images, checked by
            :meth:`check_input`. Defaults to 3.
        out_indices (Sequence[int] | int): Stages whose outputs are returned;
            negative indices count from the end. Defaults to (0, 1, 2, 3).
        frozen_stages (int): -1 freezes nothing, 0 the stem, k the stem and
            the first k stages. Defaults to -1.
        norm_eval (bool): Keep BatchNorm layers in eval mode while training.
            Defaults to False.
        with_cp (bool): Checkpoint every block to save memory (non-reentrant).
            Defaults to False.
        init_cfg (dict | list[dict], optional): Initialisation config. A
            ``type='Pretrained'`` entry loads a checkpoint on top of
            :attr:`default_init_cfg`. Defaults to None.
        pretrained (str, optional): Deprecated alias of
            ``init_cfg=dict(type='Pretrained', checkpoint=pretrained)``.
            Defaults to None.
    """

    #: Variants: ``{name: settings}``; aliases share one settings dict.
    arch_zoo: Dict[str, Dict] = {}
    #: Keys a custom ``arch`` dict must provide.
    essential_keys: frozenset = frozenset()
    #: Keys it may provide besides; any other key is an error (None: any).
    optional_keys: Optional[frozenset] = None
    #: Checkpoint keys holding the weights, in order of preference.
    state_dict_keys: Tuple[str, ...] = STATE_DICT_KEYS
    #: Where to get the official weights, said when a checkpoint is missing.
    weights_hint: Optional[str] = None
    #: Prefix of the linear classifier in the official classification
    #: checkpoints (mapped to an mmpretrain ``head.fc``).
    official_head: str = 'head.'
    #: The paper's initialisation, also applied before loading a checkpoint.
    default_init_cfg: Optional[Union[Dict, List[Dict]]] = None
    #: Inputs are zero-padded (bottom/right) to a multiple of this before the
    #: stem. For stems and downsamplings that floor sizes (patchify convs):
    #: with it, any input down to 1x1 gives ``ceil(H / stride)`` outputs, and
    #: sizes that are already multiples are untouched (so official parity
    #: holds there). mmdet/mmseg pad to 32 anyway.
    input_divisor: int = 1

    def __init__(self,
                 arch: ArchType,
                 in_channels: int = 3,
                 out_indices: Union[Sequence[int], int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg: Optional[Union[Dict, List[Dict]]] = None,
                 pretrained: Optional[str] = None) -> None:
        if pretrained is not None:
            # mmseg's EncoderDecoder still forwards the 1.x-era
            # `model.pretrained` to the backbone.
            if init_cfg is not None:
                raise ValueError('pass either pretrained or init_cfg, not '
                                 'both; prefer init_cfg=dict(type='
                                 "'Pretrained', checkpoint=...)")
            warnings.warn('pretrained is deprecated, use init_cfg='
                          "dict(type='Pretrained', checkpoint=...)")
            init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        if init_cfg is None:
            init_cfg = self.default_init_cfg
        super().__init__(init_cfg=init_cfg)
        #: The chosen variant's settings (a parsed copy of ``arch``).
        self.arch_settings: Dict = self.parse_arch(arch)
        num_stages = len(self.arch_settings['depths'])
        self.num_stages = num_stages
        self.in_channels = in_channels
        self.out_indices = self._normalize_out_indices(out_indices, num_stages)
        if not isinstance(frozen_stages, int) or not \
                -1 <= frozen_stages <= num_stages:
            raise ValueError(
                f'frozen_stages must be an int in [-1, {num_stages}] (-1: '
                f'none, 0: stem, k: stem + first k stages), got '
                f'{frozen_stages!r}')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        #: One entry per stage, appended where the subclass builds it, as
        #: timm's ``feature_info``: ``dict(num_chs=channels, reduction=stride
        #: w.r.t. the input, module=name)``.
        self.feature_info: List[Dict] = []

    # ------------------------------------------------------------ arch ----
    @classmethod
    def parse_arch(cls, arch: ArchType) -> Dict:
        """Return the settings of ``arch``: a key of :attr:`arch_zoo`, or a
        dict; a dict may also update a named variant via ``base='s'``."""
        if isinstance(arch, str):
            key = arch.lower()
            if key not in cls.arch_zoo:
                raise ValueError(
                    f'Unknown {cls.__name__} arch {arch!r}; valid archs: '
                    f'{sorted(cls.arch_zoo)} or a dict with keys '
                    f'{sorted(cls.essential_keys)}')
            return dict(cls.arch_zoo[key])
        if not isinstance(arch, dict):
            raise ValueError(f'{cls.__name__} arch must be a str or a dict, '
                             f'got {type(arch).__name__}')
        arch = dict(arch)
        if 'base' in arch:
            arch = {**cls.parse_arch(arch.pop('base')), **arch}
        missing = set(cls.essential_keys) - set(arch)
        if missing:
            raise ValueError(
                f'Custom {cls.__name__} arch lacks keys {sorted(missing)}; '
                f'it needs {sorted(cls.essential_keys)} (or base=<one of '
                f'{sorted(cls.arch_zoo)}>)')
        if cls.optional_keys is not None:
            valid = cls.essential_keys | cls.optional_keys
            unknown = set(arch) - valid
            if unknown:
                raise ValueError(f'Unknown {cls.__name__} arch keys '
                                 f'{sorted(unknown)}; valid keys: '
                                 f'{sorted(valid)}')
        cls.check_arch(arch)
        return arch

    @classmethod
    def check_arch(cls, arch: Dict) -> None:
        """Raise ValueError for inconsistent settings. The base rule: every
        list-valued setting has one value per stage (``len(depths)``)."""
        n = len(arch['depths'])
        bad = {k: v for k, v in arch.items()
               if isinstance(v, (list, tuple)) and len(v) != n}
        if bad:
            raise ValueError(
                f'{cls.__name__} arch needs one value per stage (the same '
                f'length as depths={list(arch["depths"])}) in every list; '
                f'got {bad}')

    @staticmethod
    def _normalize_out_indices(out_indices: Union[Sequence[int], int],
                               num_stages: int) -> Tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        if not isinstance(out_indices, Sequence) or not out_indices or \
                not all(isinstance(i, int) for i in out_indices):
            raise ValueError('out_indices must be an int or a non-empty '
                             f'sequence of ints, got {out_indices!r}')
        valid = range(-num_stages, num_stages)
        bad = [i for i in out_indices if i not in valid]
        if bad:
            raise ValueError(
                f'out_indices {bad} out of range; valid indices are '
                f'{list(range(num_stages))} (or negatives down to '
                f'{-num_stages})')
        normalized = sorted({i % num_stages for i in out_indices})
        if len(normalized) != len(out_indices):
            raise ValueError(f'out_indices {out_indices!r} name a stage twice')
        return tuple(normalized)

    @property
    def stage_channels(self) -> List[int]:
        """Channels of every stage's output (from :attr:`feature_info`)."""
        return [f['num_chs'] for f in self.feature_info]

    @property
    def stage_strides(self) -> List[int]:
        """Stride of every stage's output (from :attr:`feature_info`)."""
        return [f['reduction'] for f in self.feature_info]

    @property
    def out_channels(self) -> List[int]:
        """Channels of each returned feature map, in output order."""
        return [self.stage_channels[i] for i in self.out_indices]

    @property
    def strides(self) -> List[int]:
        """Stride (w.r.t. the input) of each returned feature map."""
        return [self.stage_strides[i] for i in self.out_indices]

    # --------------------------------------------------------- forward ----
    def forward_stem(self, x: Tensor) -> Tensor:
        """Run the stem (``self.stem``, as :attr:`stem_modules` assumes)."""
        return self.stem(x)

    @abstractmethod
    def forward_stage(self, i: int, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Run stage ``i``; return (input of the next stage, NCHW output)."""

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Return the outputs of :attr:`out_indices`, each of
        ``ceil(H / stride) x ceil(W / stride)``."""
        self.check_input(x)
        h, w = x.shape[-2:]
        # integer ceil: stays symbolic under torch.export / torch.compile
        sizes = [((h + s - 1) // s, (w + s - 1) // s)
                 for s in self.stage_strides]
        if x.shape[0] == 0:
            return self._empty_outputs(x, sizes)
        # channels_last (or otherwise strided) inputs: blocks reshape freely
        x = x.contiguous()
        d = self.input_divisor
        # traced graphs pad always (by 0 where nothing is missing), so that
        # H and W stay symbolic instead of being specialised to a residue
        if d > 1 and (torch.compiler.is_compiling() or h % d or w % d):
            # (as ceil * d: symbolic sizes the shape solver can bound)
            x = F.pad(x, (0, (w + d - 1) // d * d - w,
                          0, (h + d - 1) // d * d - h))
        x = self.forward_stem(x)
        outs = []
        for i in range(self.out_indices[-1] + 1):
            x, out = self.forward_stage(i, x)
            if i in self.out_indices:
                outs.append(self._crop(out, *sizes[i]))
        return tuple(outs)

    @staticmethod
    def _crop(x: Tensor, h, w) -> Tensor:
        """``x[..., :h, :w]``, contiguous. Traced (torch.export,
        torch.compile), as a gather of the first ``h`` rows and ``w``
        columns: slicing would have to prove ``h <= x.shape[-2]`` for
        symbolic sizes, which the shape solver cannot, and would specialise
        H and W; the values are the same."""
        if torch.compiler.is_compiling():
            x = x.index_select(-2, torch.arange(h, device=x.device))
            return x.index_select(-1, torch.arange(w, device=x.device))
        return x[..., :h, :w].contiguous()

    def check_input(self, x: Tensor) -> None:
        """Raise a clear error unless ``x`` is a float NCHW image batch."""
        name = type(self).__name__
        expected = (f'{name} expects a float tensor of shape (N, '
                    f'{self.in_channels}, H, W) with H, W >= 1')
        if not isinstance(x, Tensor):
            raise TypeError(f'{expected}, got {type(x).__name__}')
        if x.dim() != 4:
            hint = ' (add the batch dimension: x[None])' \
                if x.dim() == 3 else ''
            raise ValueError(f'{expected}, got a {x.dim()}-D tensor of shape '
                             f'{tuple(x.shape)}{hint}')
        if not x.is_floating_point():
            raise TypeError(
                f'{expected}, got dtype {x.dtype}; convert and normalise '
                'images first (x.float(), as the data_preprocessor does)')
        if x.shape[1] != self.in_channels:
            raise ValueError(f'{expected}, got {x.shape[1]} channels (shape '
                             f'{tuple(x.shape)}); set in_channels to change '
                             'what the backbone takes')
        if x.shape[2] < 1 or x.shape[3] < 1:
            raise ValueError(f'{expected}, got shape {tuple(x.shape)}')

    def _empty_outputs(self, x: Tensor, sizes: List[Tuple[int, int]]
                       ) -> Tuple[Tensor, ...]:
        """Outputs for an empty batch, without running the model.

        They are tied to the trainable parameters with weight 0, so that a
        rank of a DDP job that draws an empty batch still produces (zero)
        gradients for every parameter instead of hanging the others.
        """
        params = [p for p in self.parameters() if p.requires_grad]
        tie = sum(p.sum() for p in params) * 0 \
            if params and torch.is_grad_enabled() else 0
        return tuple(
            x.new_zeros(0, self.stage_channels[i], *sizes[i]) + tie
            for i in self.out_indices)

    def run_block(self, block: nn.Module, x: Tensor, *args) -> Tensor:
        """Call ``block``; checkpointed if ``with_cp`` and grads flow."""
        if self.with_cp and torch.is_grad_enabled() and x.requires_grad:
            return cp.checkpoint(block, x, *args, use_reentrant=False)
        return block(x, *args)

    # ---------------------------------------------------------- freeze ----
    def stem_modules(self) -> List[nn.Module]:
        """Modules frozen by ``frozen_stages >= 0``."""
        return [self.stem]

    def stage_modules(self, i: int) -> List[nn.Module]:
        """Modules of stage ``i`` (its output norm included) for freezing."""
        mods = [self.stages[i]]
        norm = getattr(self, f'norm{i}', None)
        return mods + [norm] if norm is not None else mods

    def _frozen_modules(self) -> List[nn.Module]:
        mods = []
        if self.frozen_stages >= 0:
            mods += self.stem_modules()
        for i in range(self.num_stages):
            # Stages past the last output never run: frozen so that DDP does
            # not wait for gradients they cannot get.
            if i < self.frozen_stages or i > self.out_indices[-1]:
                mods += self.stage_modules(i)
        return mods

    def _freeze_stages(self) -> None:
        for m in self._frozen_modules():
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True) -> 'BaseBackbone':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    # ------------------------------------------------------------ init ----
    def init_weights(self) -> None:
        """Apply the paper's init, then load a ``Pretrained`` checkpoint."""
        cfgs = self.init_cfg if isinstance(self.init_cfg, list) else \
            [self.init_cfg] if self.init_cfg else []
        pretrained = [c for c in cfgs if c.get('type') == 'Pretrained']
        if pretrained:
            others = [c for c in cfgs if c.get('type') != 'Pretrained']
            self.init_cfg = others or self.default_init_cfg
        super().init_weights()
        for cfg in pretrained:
            kwargs = {k: v for k, v in cfg.items() if k != 'type'}
            load_pretrained(self, **kwargs)
        if pretrained:
            self.init_cfg = pretrained[0] if len(cfgs) == 1 else cfgs

    @classmethod
    def convert_official(cls, state_dict: Dict[str, Tensor]
                         ) -> Dict[str, Tensor]:
        """Map an official checkpoint's keys to this layout (idempotent).

        Classification heads are dropped here. The default is the identity.
        """
        return state_dict

    def adapt_pretrained(self, key: str, value: Tensor,
                         target: Tensor) -> Optional[Tensor]:
        """Resize a checkpoint tensor whose shape differs from ``target``
        (e.g. a global filter or position table); None means no resizer."""
        return None

    def _load_from_state_dict(self, state_dict: Dict[str, Tensor],
                              prefix: str, *args, **kwargs) -> None:
        """Map official keys under ``prefix`` before loading, however the
        model is loaded (``load_state_dict``, mmengine's ``load_checkpoint``,
        ``load_from``, ``--resume``, the stock mmdet/mmseg/mmpretrain tools):
        :meth:`convert_official`, then :meth:`adapt_pretrained` for tensors
        of another shape. A state dict already in this layout is untouched.
        """
        converted = convert_under_prefix(self, state_dict, prefix)
        if converted is not None:
            replace_under_prefix(state_dict, prefix, converted)
            print_log(f'{type(self).__name__} ({prefix or "model"}): mapped '
                      f'{len(converted)} checkpoint tensors from the official '
                      'layout', logger='current')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ------------------------------------------------------- LR decay -----
    def param_position(self, name: str) -> Tuple[Optional[int], int]:
        """Locate parameter ``name`` (relative to the backbone).

        The default knows the :class:`Stage` layout: ``stem`` (stage 0,
        block -1), ``stages.i.downsample`` (stage i, block -1),
        ``stages.i.blocks.j`` (stage i, block j); anything else (output
        norms) is outside the stages. Other layouts override it.

        Returns:
            tuple: ``(stage, block)``; ``block == -1`` for the part of the
            stage that runs before its blocks (the stem for stage 0, a
            downsampling layer otherwise); ``stage is None`` for parameters
            outside the stages (e.g. output norms), which get the full LR.
        """
        parts = name.split('.')
        if parts[0] == 'stem':
            return 0, -1
        if parts[0] == 'stages' and len(parts) > 3:
            if parts[2] == 'downsample':
                return int(parts[1]), -1
            if parts[2] == 'blocks':
                return int(parts[1]), int(parts[3])
        return None, 0

    def get_layer_depth(self, name: str, decay_type: str = 'layer_wise',
                        num_layers: int = 12) -> Tuple[int, int]:
        """Layer id of parameter ``name`` for layer-wise LR decay.

        The rule is the one of the official ConvNeXt/HorNet det/seg code,
        generalised to any 4-stage backbone: layer-wise, the stem is layer 0,
        stage 0's blocks 1, stage 1 layer 2, stage 2 layers 3 + block // 3,
        stage 3 layer ``num_layers``; stage-wise, the stem and downsampling
        layers are 0 and stage ``i``'s blocks ``i + 1``. Everything outside
        the stages is the last layer (full LR). As in the official code, ids
        are not clamped: a ``num_layers`` too small for stage 2's depth gives
        its deeper blocks LR scales above 1 (the official HorFPN recipes,
        ``num_layers=6``, rely on that).

        Args:
            name (str): Parameter name relative to the backbone.
            decay_type (str): 'layer_wise' or 'stage_wise'. A prefix ending
                in ``'.'`` instead is mmpretrain's call,
                ``get_layer_depth(name, 'backbone.')`` (its
                ``ImageClassifier`` for ``LearningRateDecayOptimWrapper
                Constructor``): names of the whole model, layer-wise ids,
                parameters outside the backbone the last id (full LR).
                Defaults to 'layer_wise'.
            num_layers (int): Number of decayed layers. Defaults to 12.

        Returns:
            tuple[int, int]: The layer id and the number of layer ids
            (``num_layers + 2``).
        """
        total = num_layers + 2
        if decay_type.endswith('.'):
            if not name.startswith(decay_type):
                return total - 1, total
            return self.get_layer_depth(name[len(decay_type):],
                                        'layer_wise', num_layers)
        stage, block = self.param_position(name)
        if stage is None:
            return total - 1, total
        if decay_type == 'stage_wise':
            return (0 if block == -1 else stage + 1), total
        if decay_type != 'layer_wise':
            raise ValueError(f"decay_type must be 'layer_wise' or "
                             f"'stage_wise', got {decay_type!r}")
        if stage == 0:
            layer = 0 if block == -1 else 1
        elif stage == 1:
            layer = 2
        elif stage == 2:
            layer = 3 if block == -1 else 3 + block // 3
        else:
            layer = num_layers
        return layer, total
