"""Training (needs torch): the losses of Eq. 1-2, the data adapter and the loop behind dsl-train.

- `losses`: `LossConfig`, `compute_losses(outputs, targets, config) -> {sem, off, cnf, loc, sig, total}`
- `config`: `TrainConfig` and `load_config(toml, overrides)`: every option with its default
- `dataset`: `SampleEncoder`, `TrainingSet`, `epoch_plan`, `make_loader`, `validation_samples`
- `loop`: `Trainer(config).run()`: SGD, per-epoch validation, resumable checkpoints, Ctrl-C safe
"""
