from .checkpoint import (SAFE_CHECKPOINT_GLOBALS, CheckpointDownloadError,
                         LoadReport, convert_state_dict, extract_state_dict,
                         load_pretrained, load_state_dict_report,
                         read_checkpoint)
from .weight_init import FanOutNormalInit

__all__ = [
    'SAFE_CHECKPOINT_GLOBALS', 'CheckpointDownloadError', 'FanOutNormalInit',
    'LoadReport', 'convert_state_dict', 'extract_state_dict',
    'load_pretrained', 'load_state_dict_report', 'read_checkpoint'
]
