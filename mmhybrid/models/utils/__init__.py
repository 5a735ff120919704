from .checkpoint import (LoadReport, convert_state_dict, extract_state_dict,
                         load_pretrained, load_state_dict_report,
                         read_checkpoint)

__all__ = [
    'LoadReport', 'convert_state_dict', 'extract_state_dict',
    'load_pretrained', 'load_state_dict_report', 'read_checkpoint'
]
