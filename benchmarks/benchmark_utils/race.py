"""The accuracy race: same budget, same synthetic data, same metric.

Every model is trained with MMPose's Runner (``Runner.from_cfg``) from its
config's model and optimizer on ``SyntheticMpiiDataset`` (train split) for
the same number of iterations or seconds, at the same input size, with the
same pipelines, batch size, warm-up and seed; then scored with
``MpiiPCKAccuracy`` (PCKh@0.5, flip test on, no multi-scale test) on the
held-out ``val`` split of the synthetic data.
"""
import copy
import os.path as osp
import time
from typing import Dict, List, Optional

from .measure import short_error
from .models import (REPO_ROOT, ModelSpec, load_config, override_input_size,
                     strip_pretrained)

DATASET_TYPE = 'SyntheticMpiiDataset'
DEFAULT_RACE_ITERS = 200


def dataset_available() -> bool:
    """Whether the synthetic dataset type is registered."""
    import sadinet_mmpose  # noqa: F401
    from mmpose.registry import DATASETS
    return DATASETS.get(DATASET_TYPE) is not None


def race_pipelines(codec: Dict, size: int):
    """The train / val pipelines every model gets (only the codec differs)."""
    train = [
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='RandomFlip', direction='horizontal'),
        dict(type='RandomBBoxTransform', shift_prob=0, rotate_factor=30,
             scale_factor=(0.75, 1.25)),
        dict(type='TopdownAffine', input_size=(size, size)),
        dict(type='GenerateTarget', encoder=copy.deepcopy(codec)),
        dict(type='PackPoseInputs'),
    ]
    val = [
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='TopdownAffine', input_size=(size, size)),
        dict(type='PackPoseInputs'),
    ]
    return train, val


def race_config(spec: ModelSpec, opts: Dict):
    """The runner config of one model in the race.

    Args:
        spec: The model (its config gives model and optimizer).
        opts: ``size, batch, iters, seconds, train_samples, val_samples,
            data_root, work_dir, workers, precision, seed, cuda``.

    Returns:
        mmengine.Config: A config for ``Runner.from_cfg``.
    """
    cfg = load_config(spec.config)
    size = opts['size']
    model = copy.deepcopy(cfg.model)
    strip_pretrained(model)
    override_input_size(model, size)
    codec = (model.get('head') or {}).get('decoder')
    if codec is None:
        raise ValueError(f'{spec.label}: the head has no decoder (codec)')
    test_cfg = dict(model.get('test_cfg') or {})
    test_cfg.pop('multiscale_test', None)
    test_cfg.update(flip_test=True, output_heatmaps=False)
    model['test_cfg'] = test_cfg
    train_pipeline, val_pipeline = race_pipelines(codec, size)
    data = dict(type=DATASET_TYPE, data_root=opts['data_root'],
                image_size=size, difficulty='easy')
    workers = opts['workers']
    loader = dict(batch_size=opts['batch'], num_workers=workers,
                  persistent_workers=workers > 0)
    iters = opts['iters'] or 10**9
    warm = max(1, min(100, (opts['iters'] or 1000) // 10))
    optim = copy.deepcopy(dict(cfg.get('optim_wrapper', {})))
    optim['type'] = 'OptimWrapper'
    if opts['precision'] != 'fp32':
        optim.update(type='AmpOptimWrapper',
                     dtype='float16' if opts['precision'] == 'fp16'
                     else 'bfloat16')
    name = ''.join(c if c.isalnum() or c in '-_.' else '_'
                   for c in spec.label)
    overrides = dict(
        model=model,
        work_dir=osp.join(opts['work_dir'], name),
        experiment_name=f'race_{name}_{int(time.time())}',
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=iters,
                       val_interval=10**9),
        val_cfg=dict(type='ValLoop'),
        test_cfg=None, test_dataloader=None, test_evaluator=None,
        param_scheduler=[dict(type='LinearLR', start_factor=0.001, begin=0,
                              end=warm, by_epoch=False)],
        optim_wrapper=optim,
        auto_scale_lr=dict(enable=False, base_batch_size=64),
        train_dataloader=dict(
            **loader, sampler=dict(type='DefaultSampler', shuffle=True),
            dataset=dict(**data, split='train',
                         num_images=opts['train_samples'],
                         pipeline=train_pipeline)),
        val_dataloader=dict(
            **loader, drop_last=False,
            sampler=dict(type='DefaultSampler', shuffle=False,
                         round_up=False),
            dataset=dict(**data, split='val', num_images=opts['val_samples'],
                         test_mode=True, pipeline=val_pipeline)),
        val_evaluator=dict(type='MpiiPCKAccuracy'),
        randomness=dict(seed=opts['seed']),
        env_cfg=dict(cudnn_benchmark=opts['cuda'],
                     mp_cfg=dict(mp_start_method='fork',
                                 opencv_num_threads=0),
                     dist_cfg=dict(backend='nccl' if opts['cuda']
                                   else 'gloo')),
        launcher='none',
        log_level='WARNING',
        resume=False,
        load_from=None,
    )
    for key, value in overrides.items():
        cfg[key] = value  # replaces the config's value entirely
    hooks = dict(cfg.get('default_hooks', None) or {})
    hooks.update(checkpoint=None, logger=dict(type='LoggerHook', interval=50))
    cfg['default_hooks'] = hooks
    if 'visualizer' in cfg and cfg.visualizer is not None:
        cfg.visualizer['name'] = cfg.experiment_name
    return cfg


def _budget_hook(seconds: Optional[float], log, label: str):
    from mmengine.hooks import Hook

    class RaceBudgetHook(Hook):
        """Stops training after ``seconds`` of training iterations and keeps
        the number of iterations and the last loss."""
        priority = 'VERY_LOW'

        def __init__(self):
            self.t0 = None
            self.iters = 0
            self.loss = None
            self.elapsed = 0.0

        def before_train(self, runner):
            self.t0 = time.perf_counter()

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            self.iters += 1
            self.elapsed = time.perf_counter() - self.t0
            if outputs and 'loss' in outputs:
                self.loss = float(outputs['loss'].detach())
            if self.iters % 50 == 0:
                log(f'[race {label}] iter {self.iters}, {self.elapsed:.0f} s,'
                    f' loss {self.loss:.4g}')
            if seconds is not None and self.elapsed >= seconds:
                runner.train_loop.stop_training = True

    return RaceBudgetHook()


def _pick(metrics: Dict, name: str) -> Optional[float]:
    for key, value in metrics.items():
        if key == name or key.endswith('/' + name):
            return float(value)
    return None


def run_one(spec: ModelSpec, opts: Dict, log=print) -> Dict:
    """Train and score one model; errors are returned, not raised."""
    from mmengine.runner import Runner
    row = dict(label=spec.label, config=spec.config, error=None)
    try:
        cfg = race_config(spec, opts)
        runner = Runner.from_cfg(cfg)
        hook = _budget_hook(opts['seconds'], log, spec.label)
        runner.register_hook(hook)
        t0 = time.perf_counter()
        runner.train()
        row['train_s'] = time.perf_counter() - t0
        row['iters'] = hook.iters
        row['loss'] = hook.loss
        metrics = runner.val_loop.run()
        row['metrics'] = {k: float(v) for k, v in metrics.items()}
        row['pckh'] = _pick(metrics, 'PCK')
        row['pckh_01'] = _pick(metrics, 'PCK@0.1')
        log(f"[race {spec.label}] {hook.iters} iters in "
            f"{row['train_s']:.0f} s: PCKh@0.5 {row['pckh']}")
    except Exception as e:  # noqa: BLE001 (a row with the error)
        row['error'] = short_error(e)
        log(f'[race {spec.label}] failed: {short_error(e, 1000)}')
    return row


def run_race(specs: List[ModelSpec], st: Dict, args, log=print) -> Dict:
    """Run the race for every model; returns rows and notes.

    Raises:
        RuntimeError: When ``SyntheticMpiiDataset`` is not registered.
    """
    if not dataset_available():
        raise RuntimeError(
            f'--race needs the {DATASET_TYPE} dataset (sadinet_mmpose.'
            'datasets), which is not registered in this checkout')
    iters = args.race_iters
    seconds = args.race_seconds
    if iters is None and seconds is None:
        iters = DEFAULT_RACE_ITERS
    work_dir = args.race_work_dir or osp.join(REPO_ROOT, 'work_dirs',
                                              'benchmark_race')
    size = args.race_input_size
    data_root = args.race_data_root or osp.join(
        work_dir, f'synthetic_mpii_{size}px_{args.race_train_samples}'
        f'_{args.race_val_samples}')
    workers = (args.race_workers if args.race_workers is not None else
               (4 if st['cuda'] else 0))
    opts = dict(size=size, batch=args.race_batch or st['batch'],
                iters=iters, seconds=seconds,
                train_samples=args.race_train_samples,
                val_samples=args.race_val_samples, data_root=data_root,
                work_dir=work_dir, workers=workers,
                precision=args.race_precision, seed=st['seed'],
                cuda=st['cuda'])
    rows = [run_one(s, opts, log) for s in specs]
    budget = (f'{iters} iterations' if iters else '') + (
        ' or ' if iters and seconds else '') + (
        f'{seconds:g} s of training' if seconds else '') + (
        ' (whichever first)' if iters and seconds else '')
    notes = [
        f"race: each model trained from scratch (no pre-trained weights) for "
        f"{budget} with "
        "MMPose's Runner from its config's model and optimizer (its own lr; "
        f'constant after a linear warm-up of the first '
        f"{max(1, min(100, (iters or 1000) // 10))} iterations), "
        f"{opts['precision']}, batch {opts['batch']}, input {size}x{size} "
        f"(codec heatmaps scaled alike), seed {opts['seed']}, on "
        f"{DATASET_TYPE} (easy, {opts['train_samples']} train images, "
        f'rotation +-30, scale 0.75-1.25, flip); scored by MpiiPCKAccuracy '
        f"on its held-out val split ({opts['val_samples']} images), flip test"
        ' on, no multi-scale test. train s includes data loading.',
        f'race data: {data_root}; runner work dirs under {work_dir}',
    ]
    return dict(models=rows, notes=notes, settings={
        k: v for k, v in opts.items()})
