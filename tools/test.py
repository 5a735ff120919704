"""Test (evaluate) a checkpoint: COCO mAP, mIoU or top-1 accuracy.

Official checkpoints load as released (whole-model conversion with a
``loaded N/M tensors`` report; the run stops when less than 90% of the model
loads), and the published figure of the config, when its metafile has one,
is printed next to each measured metric.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
        [--show-dir DIR] [--data-root DIR] [--cfg-options k=v ...]
        [--launcher pytorch]
"""
import argparse
import os

from mmengine.config import Config, DictAction
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from mmhybrid.utils.setup_env import (load_config, setup_cpu_distributed,
                                      teardown_distributed)


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument(
        'checkpoint', help='checkpoint file, or "none" to evaluate the '
        'freshly initialised model (an untrained baseline)')
    parser.add_argument('--work-dir', help='dir to save the evaluation log')
    parser.add_argument(
        '--out', help='save the predictions: a .pkl file for detection, a '
        'directory of label PNGs for segmentation')
    parser.add_argument('--show', action='store_true',
                        help='show predictions in a window')
    parser.add_argument('--show-dir',
                        help='save drawn predictions to this directory '
                        '(relative to the work dir\'s timestamp folder)')
    parser.add_argument('--wait-time', type=float, default=2,
                        help='seconds each shown image stays up')
    parser.add_argument('--tta', action='store_true',
                        help='use the config\'s test-time augmentation')
    parser.add_argument('--data-root',
                        help='dataset root to use instead of the config\'s')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    parser.add_argument('--launcher',
                        choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def enable_visualization(cfg: Config, args) -> None:
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise ValueError('--show/--show-dir need a `visualization` hook in '
                         'default_hooks')
    hook.draw = True
    hook.interval = 1  # mmseg's hook would draw only every 50th image
    if args.show:
        hook.show, hook.wait_time = True, args.wait_time
    if args.show_dir:
        # mmdet's DetVisualizationHook takes test_out_dir; mmseg's hook draws
        # to the visualizer's save_dir.
        if 'mmdet' in str(hook.type) or cfg.default_scope == 'mmdet':
            hook.test_out_dir = args.show_dir
        else:
            cfg.visualizer.save_dir = args.show_dir


def main():
    args = parse_args()
    cfg = load_config(args)
    untrained = args.checkpoint.lower() == 'none'
    cfg.load_from = None if untrained else args.checkpoint
    if args.show or args.show_dir:
        enable_visualization(cfg, args)
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise ValueError('--tta needs `tta_model` and `tta_pipeline` in '
                             'the config')
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    if args.out is not None:
        if cfg.default_scope == 'mmseg':
            cfg.test_evaluator['output_dir'] = args.out
            cfg.test_evaluator['keep_results'] = True
        elif not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl file, got {args.out!r}')
    if args.launcher != 'none':
        # one writer for the metrics JSON (mmengine's hook writes per rank)
        cfg.default_hooks.logger.type = 'mmhybrid.MainProcessLoggerHook'
    setup_cpu_distributed(cfg, args.launcher)

    runner = Runner.from_cfg(cfg)
    if untrained:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        model.init_weights()
    if args.out is not None and cfg.default_scope != 'mmseg':
        from mmdet.evaluation import DumpDetResults
        runner.test_evaluator.metrics.append(
            DumpDetResults(out_file_path=args.out))
    metrics = runner.test()
    print_published(args.config, metrics, args.tta)
    teardown_distributed()


def print_published(config: str, metrics: dict, tta: bool) -> None:
    """Print the published figure of the config (its metafile entry) next to
    each measured one: ``bbox_mAP 0.517 (published 51.7)``."""
    from mmengine.dist import is_main_process
    from mmengine.logging import print_log

    from mmhybrid.utils.model_index import format_comparison, model_for_config
    model = model_for_config(config)
    if model is None or not is_main_process():
        return
    lines = format_comparison(metrics or {}, model, tta)
    if lines:
        print_log(f"{model['Name']}: " + ', '.join(lines), logger='current')


if __name__ == '__main__':
    main()
