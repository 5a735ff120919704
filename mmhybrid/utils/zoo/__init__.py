"""The model zoo benchmark behind ``tools/analysis_tools/benchmark_zoo.py``:
which models (:mod:`.models`), peak memory in fresh processes
(:mod:`.probe`), the interleaved timing run (:mod:`.run`), the text outputs
(:mod:`.report`), the figures (:mod:`.plots`) and the memory breakdown
document (:mod:`.breakdown`)."""
from .breakdown import breakdown_markdown, run_breakdowns
from .models import (BASELINES, ZooModel, discover, load_spec, parse_size,
                     registered_backbones, select, size_label, zoo_archs)
from .plots import plot
from .probe import MemoryProbe, memory_child
from .report import (load_top1, machine_description, markdown_section,
                     summarise, to_json, update_readme, write_csv)
from .run import BATCH_224, Task, run_zoo

__all__ = [
    'BASELINES', 'ZooModel', 'discover', 'load_spec', 'parse_size',
    'registered_backbones', 'select', 'size_label', 'zoo_archs', 'plot',
    'MemoryProbe', 'memory_child', 'load_top1', 'machine_description',
    'markdown_section', 'summarise', 'to_json', 'update_readme', 'write_csv',
    'BATCH_224', 'Task', 'run_zoo', 'breakdown_markdown', 'run_breakdowns'
]
