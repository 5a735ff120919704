from .checkpoint import (SAFE_CHECKPOINT_GLOBALS, CheckpointDownloadError,
                         LoadReport, convert_state_dict, extract_state_dict,
                         load_pretrained, load_state_dict_report,
                         match_state_dict, read_checkpoint)
from .weight_init import FanOutNormalInit
from .whole_model import (backbones_of, convert_model_checkpoint,
                          convert_model_state_dict)

__all__ = [
    'SAFE_CHECKPOINT_GLOBALS', 'CheckpointDownloadError', 'FanOutNormalInit',
    'LoadReport', 'convert_state_dict', 'extract_state_dict',
    'load_pretrained', 'load_state_dict_report', 'read_checkpoint',
    'match_state_dict', 'backbones_of', 'convert_model_checkpoint',
    'convert_model_state_dict'
]
