"""competition: a pytest-native harness for image-classification competition experiments.

Layers, bottom to top (imports point only downward; tests/test_architecture.py checks it):
  1. errors, files, registry, metrics,     value types: Experiment, Budget, Result; registries;
     experiment, provenance, memory         metrics and the bootstrap; atomic_write; code fingerprint, environment;
                                            the heap's thresholds
  2. data, augment, models, train, tta       data, models, the training loop, inference
  3. cv                                      folds, run_fold (the unit of work -> UnitOutput), assemble
  4. store, executors, runner, execution     the result store; who trains missing units (local, Ray); run;
                                             the execution path (precision, layout, compile)
  5. posthoc, ensemble                       TTA on stored folds, ensembles, frozen features
  6. scoring, gates, baselines, guards, calibration, report, submission, recipes, pytest_plugin, cli

Importing the package imports nothing heavy (the CLI's --help answers at once): each registry
imports the modules that fill it on its first look-up (registry.Registry.providers), so every
registry is full before an Experiment checks its names against them.
"""

__version__ = "0.2.0"
