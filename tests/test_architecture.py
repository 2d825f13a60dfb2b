"""The package's shape: layers with imports pointing only downward, no import cycle,
no function-local import of the package's own modules, every module importable alone."""
from __future__ import annotations

import ast
import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import competition
from competition import registry
from competition.cli import BUILTIN_NAMES
from competition.data import BUILTINS
from competition.errors import ConfigError
from competition.experiment import FIELD_SYNONYMS, KEYWORD_HOMES, Experiment

PACKAGE = Path(competition.__file__).parent
LAYERS = {  # module (or subpackage) -> layer, bottom to top; see competition/__init__.py
    "errors": 1, "files": 1, "registry": 1, "metrics": 1, "experiment": 1, "provenance": 1, "memory": 1,
    "data": 2, "augment": 2, "models": 2, "train": 2, "tta": 2,
    "cv": 3,
    "store": 4, "executors": 4, "runner": 4, "execution": 4,
    "posthoc": 5, "ensemble": 5,
    "scoring": 6, "gates": 6, "report": 6, "html_report": 6, "tracking": 6, "submission": 6, "pytest_plugin": 6,
    "cli": 6, "__main__": 6, "search": 6,
    "recipes": 6, "commands": 6, "guards": 6, "scaffold": 6, "calibration": 6, "baselines": 6,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def imported_modules(path: Path) -> list[tuple[str, int, bool]]:
    """(imported competition module, line, at module level) for each import in the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        for target in targets:
            if target.startswith("competition.") and importable(target):
                found.append((target, node.lineno, id(node) in top_level))
    return found


def importable(module: str) -> bool:
    relative = Path(*module.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").exists() or (PACKAGE / relative / "__init__.py").exists()


FILES = sorted(p for p in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_and_sit_at_the_top(path):
    source = module_name(path)
    if source == "competition":
        return  # the package's __init__ imports layer 2 to fill the registries
    for target, line, at_top in imported_modules(path):
        assert at_top, f"{path.name}:{line} imports {target} inside a function; import it at the top"
        assert layer_of(target) <= layer_of(source), (
            f"{path.name}:{line}: {source} (layer {layer_of(source)}) imports {target} (layer {layer_of(target)}), "
            "an upward import")


def test_the_library_is_usable_without_pytest():
    """Only the plugin (and the test templates it writes out) may import pytest: the rest of the package is
    a library that runs in a notebook or a script."""
    for path in FILES:
        if path.name == "pytest_plugin.py":
            continue
        nodes = list(ast.walk(ast.parse(path.read_text())))
        imports = {alias.name for node in nodes if isinstance(node, ast.Import) for alias in node.names}
        imports |= {node.module for node in nodes if isinstance(node, ast.ImportFrom) and node.module}
        roots = {name.partition(".")[0] for name in imports}
        assert not roots & {"pytest", "_pytest", "pluggy"}, f"{path.name} imports pytest; only the plugin may"


def test_no_import_cycle():
    graph = {module_name(p): {target for target, _, _ in imported_modules(p)}
             for p in FILES if module_name(p) != "competition"}
    state: dict[str, int] = {}

    def visit(node, trail):
        if state.get(node) == 1:
            raise AssertionError("import cycle: " + " -> ".join(trail + [node]))
        if state.get(node) == 2:
            return
        state[node] = 1
        for nxt in graph.get(node, ()):
            if nxt != node and nxt in graph:
                visit(nxt, trail + [node])
        state[node] = 2

    for module in graph:
        visit(module, [])


def test_every_module_imports_on_its_own_in_any_order():
    modules = [module_name(p) for p in FILES if p.name != "__main__.py"]
    code = "; ".join(f"import {m}" for m in reversed(modules))
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


KINDS = ["MODELS", "LOSSES", "OPTIMIZERS", "SCHEDULERS", "AUGMENTATIONS", "AUGMENTATION_STEPS", "TTA_VIEWS",
         "TTA_MERGES", "TRANSFER_MODES", "CV_SCHEMES", "CROPS", "METRICS", "ENSEMBLES"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_named_kind_lists_its_names(kind):
    names = getattr(registry, kind).names()
    assert len(names) >= 2 and names == sorted(names)


@pytest.mark.parametrize("field, value", [
    ("model", "resnet19"), ("loss", "focall"), ("optimizer", "adamx"), ("scheduler", "cosin"),
    ("transfer", "fine-tune"), ("augmentation", "lite"), ("tta", ("identity", "rotate")), ("cv", "stratifed:5"),
    ("crop", "middle"),
])
def test_an_unknown_name_fails_at_construction_and_lists_the_known_ones(field, value):
    with pytest.raises(ConfigError, match=rf"unknown .*\(Experiment.{field}(; did you mean '.*'\?)?\); known .*: \["):
        Experiment("bad", **{field: value})


@pytest.mark.parametrize("field, value, meant", [
    ("loss", "focall", "focal"), ("transfer", "feature_extract", "feature-extract"),
    ("cv", "stratifed:5", "stratified"), ("scheduler", "cosin", "cosine"),
])
def test_a_misspelt_name_is_answered_with_the_name_meant(field, value, meant):
    with pytest.raises(ConfigError, match=rf"\(Experiment.{field}; did you mean '{meant}'\?\)"):
        Experiment("bad", **{field: value})


@pytest.mark.parametrize("given, meant", [({"epoch": 3}, "epochs"), ({"lr_": 0.1}, "lr"), ({"augmentations": "light"},
                                                                                           "augmentation")])
def test_a_misspelt_field_is_a_config_error_naming_the_field_meant(given, meant):
    """The dataclass's own answer is a TypeError that names no field; with_ goes the same way."""
    (key, value), = given.items()
    with pytest.raises(ConfigError, match=rf"bad: Experiment has no field for {key}=.* \(did you mean '{meant}'\?\)"):
        Experiment("bad", **given)
    with pytest.raises(ConfigError, match=rf"ok: Experiment has no field for {key}="):
        Experiment("ok").with_(**given)


@pytest.mark.parametrize("given, hint", [
    ({"transforms": "light"}, "(did you mean 'augmentation'?)"),  # by spelling: 'transfer', transfer learning
    ({"competition": "fashion"}, "(did you mean 'data'?)"),
    ({"model_name": "resnet18"}, "(did you mean 'model'?)"),  # by spelling: 'model_kw'
    ({"label_smoothing": 0.1}, "(did you mean loss='label_smoothing', loss_kw={'smoothing': ...}?)"),
    ({"momentum": 0.9}, "(did you mean optimizer_kw={'momentum': ...}?)"),
])
def test_a_field_named_as_other_libraries_name_it_is_answered_with_the_field_that_holds_it(given, hint):
    with pytest.raises(ConfigError, match=re.escape(hint)):
        Experiment("bad", **given)


def test_every_field_synonym_maps_to_a_field_and_is_not_one_itself():
    known = {f.name for f in dataclasses.fields(Experiment) if f.init}
    assert set(FIELD_SYNONYMS.values()) <= known
    assert not (set(FIELD_SYNONYMS) | set(KEYWORD_HOMES)) & known


def test_the_advice_for_a_keyword_given_as_a_field_is_a_spec_that_holds():
    """What the hints say to write is accepted (label smoothing is a loss of its own: cross_entropy takes no
    label_smoothing)."""
    Experiment("smoothed", loss="label_smoothing", loss_kw={"smoothing": 0.1})
    for optimizer, keyword, value in [("sgd", "momentum", 0.9), ("sgd", "nesterov", True), ("adamw", "betas",
                                                                                           (0.9, 0.99))]:
        assert f"optimizer_kw={{{keyword!r}: ...}}" == KEYWORD_HOMES[keyword]
        Experiment("kw", optimizer=optimizer, optimizer_kw={keyword: value})


@pytest.mark.parametrize("changes, message", [
    ({"epochs": 0}, "epochs=0"), ({"batch_size": 0}, "batch_size=0"), ({"seeds": 0}, "seeds=0"),
    ({"train_fraction": 0.0}, r"train_fraction=0.0; use a fraction in \(0, 1\]"), ({"lr": -1.0}, "lr=-1.0"),
    ({"cv": "stratified:1"}, "k >= 2"), ({"channels": 2}, "channels=2"), ({"tta": ["hflip"]}, "tuple"),
    ({"name": ""}, "name"), ({"clip_grad": 0}, "clip_grad=0 would zero"), ({"clip_grad": -1.0}, "clip_grad=-1.0"),
    ({"warmup_epochs": -0.5}, "warmup_epochs=-0.5"),
    ({"scheduler": "cosine", "warmup_epochs": 3, "epochs": 3}, "warm up for the whole run and never train at its rate"),
    ({"model": "resnet18", "transfer": "feature-extract"}, "pretrained=None leaves them random"),
    ({"model": "efficientnet_lite0", "transfer": "finetune", "pretrained": False}, "would train a head on random"),
    # NaN passed `value < low` and a fractional count was taken: lr=nan trained on NaN weights
    ({"lr": float("nan")}, "lr=nan; use a finite number"), ({"lr": float("inf")}, "lr=inf"),
    ({"weight_decay": float("nan")}, "weight_decay=nan"), ({"epochs": 2.5}, "epochs=2.5; use a whole number"),
    ({"batch_size": 64.0}, "batch_size=64.0"), ({"seeds": 1.5}, "seeds=1.5"),
    ({"split_seed": -3}, "split_seed=-3; use an integer >= 0"), ({"split_seed": 1.5}, "split_seed=1.5"),
])
def test_a_bad_number_fails_at_construction(changes, message):
    with pytest.raises(ConfigError, match=message):
        Experiment(**{"name": "bad", **changes})


def test_numpy_counts_are_taken_as_the_numbers_they_are():
    spec = Experiment("np", epochs=np.int64(3), batch_size=np.int32(64), seeds=np.int64(2), lr=np.float64(1e-3),
                      seed=np.int64(5), split_seed=np.int32(1))
    assert (spec.epochs, spec.batch_size, spec.seeds, spec.seed, spec.split_seed) == (3, 64, 2, 5, 1)
    assert type(spec.epochs) is int and type(spec.seed) is int
    assert json.dumps(spec.to_dict())


def test_parameterised_names_resolve_by_prefix():
    Experiment("ok", model="timm/resnet10t", pretrained="imagenet", transfer="partial:2", crop="box:0,0,10,10",
               tta=("shift:1", "scale:1.1"))


def test_the_cli_parser_imports_nothing_heavy_and_knows_every_builtin():
    """--help and usage errors answer at once: torch, pandas and the data stack load only for a command."""
    probe = ("import sys, competition.cli as cli; cli.build_parser(); "
             "print(sorted(m for m in ('torch', 'pandas', 'numpy', 'cv2', 'timm') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
    assert BUILTIN_NAMES == tuple(sorted(BUILTINS))


def test_a_registry_fills_itself_on_first_look_up():
    probe = ("from competition.registry import MODELS, METRICS; "
             "print('rescnn' in MODELS, 'macro_f1' in METRICS.names())")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True"]
