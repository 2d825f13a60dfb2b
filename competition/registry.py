"""One registry type for every named kind (layer 1).

Each kind is a Registry instance here; the module that implements an entry
registers it (models in competition.models, losses in competition.train, ...),
and the package's __init__ imports those modules, so the registries are full
whenever any part of the package is imported. An Experiment checks its names
against them when it is constructed.

    >>> from competition.registry import LOSSES
    >>> LOSSES.names()          # ['cross_entropy', 'f1', 'focal', ...]
    >>> LOSSES.get("focall")    # ConfigError: unknown loss 'focall'; known losses: [...]

A name registered with a trailing ':' or '/' is a prefix with an argument
("partial:2", "timm/resnet50").
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
import sys
import sysconfig
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any, Callable

from .errors import ConfigError, closest, did_you_mean

PACKAGE = __name__.partition(".")[0]


class Registry:
    """Named entries of one kind. `providers` are the modules whose import registers the package's own
    entries; they are imported on the first look-up (so `import competition` and the CLI's --help stay
    fast, and a registry is full whenever it is asked)."""

    def __init__(self, kind: str, plural: str | None = None, providers: tuple[str, ...] = ()):
        self.kind, self.plural = kind, plural or f"{kind}s"
        self.providers = providers
        self.registered: dict[str, Any] = {}
        self.loaded = not providers

    @property
    def entries(self) -> dict[str, Any]:
        if not self.loaded:
            self.loaded = True  # before importing: a provider registers while it is imported
            for module in self.providers:
                importlib.import_module(module)
        return self.registered

    def register(self, name: str, entry: Any = None) -> Callable:
        """register(name, entry), or @register(name) on a function or class."""
        if entry is not None:
            self.registered[name] = entry
            return entry

        def wrap(obj):
            self.registered[name] = obj
            return obj

        return wrap

    def names(self) -> list[str]:
        return sorted(self.entries)

    def resolve(self, name: str) -> str | None:
        """The registered key that `name` matches (itself, or its prefix), or None."""
        if not isinstance(name, str):
            return None
        if name in self.entries:
            return name
        for key in self.entries:
            if key.endswith((":", "/")) and name.startswith(key) and len(name) > len(key):
                return key
        return None

    def check(self, name: str, field: str | None = None) -> str:
        key = self.resolve(name)
        if key is None:
            shown = [k + "<arg>" if k.endswith((":", "/")) else k for k in self.names()]
            close = closest(name, self.names()) if isinstance(name, str) else None
            notes = ([f"Experiment.{field}"] if field else []) + ([f"did you mean {close!r}?"] if close else [])
            where = f" ({'; '.join(notes)})" if notes else ""
            raise ConfigError(f"unknown {self.kind} {name!r}{where}; known {self.plural}: {shown}")
        return key

    def get(self, name: str) -> Any:
        return self.entries[self.check(name)]

    def __contains__(self, name: str) -> bool:
        return self.resolve(name) is not None


def is_own_code(entry: Any) -> bool:
    """Whether a registry entry is this package's (keyed with the package's code) or a user's. A spec
    object is neither: its digest is in its name."""
    if isinstance(entry, SpecObject):
        return True
    module = getattr(inspect.getmodule(implementation(entry)), "__name__", "") or ""
    return module == PACKAGE or module.startswith(PACKAGE + ".") or not callable(implementation(entry))


def implementation(entry: Any) -> Any:
    """The code behind an entry: what an entry object names as its `code` (a model's factory, a metric's
    score), or what a wrapper wraps (functools.wraps)."""
    code = getattr(entry, "code", None)  # an entry's callable; a TorchScript module's .code is a string
    entry = code if callable(code) else entry
    return inspect.unwrap(entry) if callable(entry) else entry


def installed_roots() -> tuple[str, ...]:
    """Where the interpreter's own and installed packages live: code there is versioned by its release."""
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    return tuple(str(Path(r).resolve()) for r in roots | {str(Path(__file__).resolve().parent)})


def user_module(module: Any, roots: tuple[str, ...]) -> bool:
    """A module of the user's own code: a .py file outside the installed packages and outside this package."""
    file = getattr(module, "__file__", None) if isinstance(module, ModuleType) else None
    if not file or not file.endswith(".py"):
        return False
    resolved = Path(file).resolve()
    return not any(resolved.is_relative_to(root) for root in roots)


def imported_user_modules(start: ModuleType) -> list[ModuleType]:
    """`start` and every user module it reaches through its globals (an imported module, or a function, class
    or instance defined in one), transitively: a helper edited in another file of the user's code changes
    what the entry computes as much as an edit to the entry's own file."""
    roots = installed_roots()
    found, todo = {start.__name__: start}, [start]
    while todo:
        for value in list(vars(todo.pop()).values()):
            module = value if isinstance(value, ModuleType) else sys.modules.get(defining_module_name(value))
            if module is not None and module.__name__ not in found and user_module(module, roots):
                found[module.__name__] = module
                todo.append(module)
    return [found[name] for name in sorted(found)]


def defining_module_name(value: Any) -> str:
    try:
        name = getattr(value, "__module__", None)  # a proxy or lazy object may raise anything here
    except Exception:
        return ""
    return name if isinstance(name, str) else ""


def read_source(module: Any) -> str:
    """The source file of a module (or of a function or class) as it is on disk now (inspect's line cache
    could hold an older copy); '' if there is none."""
    try:
        with open(inspect.getsourcefile(module) or "", "rb") as handle:
            return handle.read().decode(errors="replace")
    except (OSError, TypeError):
        return ""


def module_source(obj: Any) -> str:
    """The source of the module that defines obj (or its class) and of the user's modules that one imports,
    as they are on disk now; '' if the defining module has none."""
    target = obj if inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismethod(obj) else type(obj)
    module = inspect.getmodule(target)
    own = read_source(module or target)
    if module is None or not own:
        return own
    others = [m for m in imported_user_modules(module) if m is not module]
    return own + "".join(f"\n# --- {m.__name__}\n{read_source(m)}" for m in others)


def source_digest(entry: Any, what: str) -> str:
    """qualified name + the digest of the source of the module that defines a user's entry, or its
    `version` attribute where there is no source; refused when neither exists (a result could go stale)."""
    code = implementation(entry)
    name = f"{getattr(code, '__module__', '?')}.{getattr(code, '__qualname__', type(code).__qualname__)}"
    source = module_source(code)
    if not source:
        version = getattr(code, "version", None) or getattr(entry, "version", None)
        if version is None:
            raise ConfigError(
                f"{what}: the source of {name} cannot be read (defined interactively?), so the store "
                "could not tell an edited version from this one; define it in a module file, or give "
                "it a `version` attribute that you change with its code"
            )
        return f"{name}@version:{version}"
    return f"{name}@{hashlib.sha256((source + bound_values(code)).encode()).hexdigest()[:16]}"


class SpecObject:
    """An object a spec holds instead of a name (an nn.Module, an albumentations Compose, a loss function,
    a scikit-learn splitter...), registered under a name that carries its digest. The layer that uses the
    kind knows how to use such an object; `field` says which Experiment field it came from."""

    def __init__(self, obj: Any, field: str):
        self.obj, self.field = obj, field

    def __repr__(self) -> str:
        return f"SpecObject({self.field}={describe(self.obj)})"


ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def describe(obj: Any, limit: int = 300) -> str:
    """A readable one-line description of an object (no memory addresses)."""
    text = ADDRESS.sub("", repr(obj)).replace("\n", " ")
    return " ".join(text.split())[:limit]


def code_text(code: CodeType) -> str:
    """A code object's behaviour as text, the same in every process: its bytecode, names and constants, the
    code nested in it (lambdas, comprehensions) included."""
    constants = []
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            constants.append(code_text(constant))
        elif isinstance(constant, frozenset):  # a set's order follows the process's hash seed
            constants.append(repr(sorted(map(repr, constant))))
        else:
            constants.append(repr(constant))
    return "|".join([code.co_code.hex(), ",".join(code.co_names), ",".join(code.co_varnames), *constants])


PLAIN_VALUES = (int, float, str, bool, bytes, type(None))


def names_read(code: CodeType) -> set[str]:
    return set(code.co_names).union(*(names_read(c) for c in code.co_consts if isinstance(c, CodeType)))


def globals_read(function: Any) -> str:
    """The plain values (numbers, strings, tuples of them) of the globals a function reads: WIDTH = 64 in one
    notebook cell and a factory that reads it in another."""
    namespace = function.__globals__
    values = {name: namespace[name] for name in sorted(names_read(function.__code__)) if name in namespace}
    plain = {
        name: value
        for name, value in values.items()
        if isinstance(value, PLAIN_VALUES)
        or (isinstance(value, tuple) and all(isinstance(v, PLAIN_VALUES) for v in value))
    }
    return repr(plain)


def sourceless_code(obj: Any) -> str:
    """The code of an object whose source no file holds: a function's code and defaults, or every method of
    the classes it is made of that have no source file. Without it, a method or a constant edited in a
    notebook kept the object's digest, and the store served the result of the code before the edit."""
    if inspect.isfunction(obj):
        return "|".join([code_text(obj.__code__), describe(obj.__defaults__), describe(obj.__kwdefaults__)])
    parts = []
    for klass in obj.__mro__ if inspect.isclass(obj) else type(obj).__mro__:
        if read_source(klass):
            continue
        for name, function in class_functions(klass):
            parts.append(f"{klass.__qualname__}.{name}:{sourceless_code(function)}")
    return "\n".join(parts)


def class_functions(klass: type) -> list[tuple[str, Any]]:
    """The functions a class defines itself: methods, static and class methods, property getters."""
    found = []
    for name, member in sorted(vars(klass).items()):
        function = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
        if inspect.isfunction(function):
            found.append((name, function))
    return found


def bound_values(obj: Any, seen: set[int] | None = None) -> str:
    """What a function computes with that is not its code: the values its closure captured (`make(64)` returning
    a factory that builds a width-64 net) and the plain values of the globals it reads (`WIDTH =
    int(os.environ["WIDTH"])`). No source file holds them, so without them make(2) and make(64) had one digest,
    and the store served the width-2 result as the width-64 one. For a class or an instance: those of the
    methods that the user's own classes define (in a file of theirs, or in a notebook)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return "<seen>"
    seen.add(id(obj))
    if inspect.isfunction(obj):
        cells = [value_text(cell, seen) for cell in obj.__closure__ or ()]
        return f"closure[{','.join(cells)}]globals{globals_read(obj)}"
    roots = installed_roots()
    klasses = obj.__mro__ if inspect.isclass(obj) else type(obj).__mro__
    return "\n".join(
        f"{klass.__qualname__}.{name}:{bound_values(function, seen)}"
        for klass in klasses
        if user_module(sys.modules.get(klass.__module__), roots) or not read_source(klass)  # a notebook's class
        for name, function in class_functions(klass)
    )


def value_text(cell: Any, seen: set[int]) -> str:
    """A captured value as text that is the same in every process: plain values by repr, containers item by
    item, arrays and tensors by their bytes, functions by their digest and anything else by `object_digest`."""
    try:
        value = cell.cell_contents
    except ValueError:  # a cell not yet filled
        return "<empty>"
    return captured_text(value, seen)


def captured_text(value: Any, seen: set[int]) -> str:
    if isinstance(value, PLAIN_VALUES):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "[" + ",".join(captured_text(v, seen) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(sorted(f"{k!r}:{captured_text(v, seen)}" for k, v in value.items())) + "}"
    if isinstance(value, (set, frozenset)):
        return "{" + ",".join(sorted(captured_text(v, seen) for v in value)) + "}"
    if hasattr(value, "detach"):  # a tensor: as an array (bfloat16, which numpy lacks, widened)
        tensor = value.detach().cpu()
        value = tensor.float().numpy() if str(tensor.dtype) == "torch.bfloat16" else tensor.numpy()
    if hasattr(value, "tobytes") and hasattr(value, "dtype"):  # an array
        return f"{value.dtype}{tuple(value.shape)}:{hashlib.sha256(value.tobytes()).hexdigest()[:16]}"
    return object_digest(value, seen)  # bound_values there stops at what it has seen (a closure that holds itself)


def object_digest(obj: Any, seen: set[int] | None = None) -> str:
    """What makes an object what it is: its class or function, the source of the module defining it, its
    repr without addresses (an albumentations Compose or a splitter lists its parameters there) and, for a
    module with weights, every tensor (its initialisation), and the values its code computes with that no source
    holds (`bound_values`: a closure's captured values, the globals it reads)."""
    target = obj if inspect.isfunction(obj) or inspect.isclass(obj) else type(obj)
    digest = hashlib.sha256(f"{target.__module__}.{target.__qualname__}".encode())
    source = module_source(obj)
    digest.update(source.encode())
    if not source:  # defined where no file keeps its source (a notebook cell, exec): its code is all there is
        digest.update(sourceless_code(obj).encode())
    digest.update(bound_values(obj, seen).encode())
    if inspect.isfunction(obj):
        digest.update(obj.__code__.co_code)
    else:
        digest.update(ADDRESS.sub("", repr(obj)).encode())
        for name, value in sorted(getattr(obj, "__dict__", {}).items()):
            if hasattr(value, "tobytes") and hasattr(value, "dtype"):  # an array, whose repr elides its middle
                digest.update(f"{name}={captured_text(value, set())}".encode())
    state = getattr(obj, "state_dict", None)
    if callable(state) and not inspect.isclass(obj):
        try:
            for name, tensor in state().items():
                digest.update(name.encode())
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        except (RuntimeError, ValueError, AttributeError, TypeError):  # uninitialised (lazy) parameters
            pass
    return digest.hexdigest()[:12]


def call_with_accepted(factory: Callable, **offered):
    """Call a user's factory with the offered keywords it takes (all of them when it takes **kw)."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return factory(**offered)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return factory(**offered)
    return factory(**{k: v for k, v in offered.items() if k in parameters})


def register_object(registry: "Registry", obj: Any, field: str) -> str:
    """Register an object a spec holds; its name is "<Class or function>#<digest>", the same in every process
    for the same code, parameters and weights, so the store serves it and an edit retrains it."""
    target = obj if inspect.isfunction(obj) or inspect.isclass(obj) else type(obj)
    name = f"{target.__qualname__.replace('<', '').replace('>', '')}#{object_digest(obj)}"
    registry.register(name, SpecObject(obj, field))
    return name


MODELS = Registry("model", providers=(f"{PACKAGE}.models",))
CALLBACKS = Registry("callback", providers=(f"{PACKAGE}.train",))
LOSSES = Registry("loss", "losses", providers=(f"{PACKAGE}.train",))
OPTIMIZERS = Registry("optimizer", providers=(f"{PACKAGE}.train",))
SCHEDULERS = Registry("scheduler", providers=(f"{PACKAGE}.train",))
AUGMENTATIONS = Registry("augmentation preset", providers=(f"{PACKAGE}.augment",))
AUGMENTATION_STEPS = Registry("augmentation step", providers=(f"{PACKAGE}.augment",))
TTA_VIEWS = Registry("TTA view", providers=(f"{PACKAGE}.tta",))
TTA_MERGES = Registry("TTA merge", providers=(f"{PACKAGE}.tta",))
TRANSFER_MODES = Registry("transfer mode", providers=(f"{PACKAGE}.models",))
CV_SCHEMES = Registry("CV scheme", providers=(f"{PACKAGE}.data",))
CROPS = Registry("crop", providers=(f"{PACKAGE}.data",))
METRICS = Registry("metric", providers=(f"{PACKAGE}.metrics",))
ENSEMBLES = Registry("ensemble", providers=(f"{PACKAGE}.ensemble",))
TRACKERS = Registry("tracker", providers=(f"{PACKAGE}.tracking",))
# what optimizer_kw may set for every optimizer: the harness applies these around the optimizer itself
# (competition.train.optim.create_optimizer); the other keywords go to the optimizer's factory
HARNESS_OPTIMIZER_OPTIONS = ("norm_lr_mult", "lookahead_steps", "lookahead_alpha")
# what the harness passes to an optimizer factory itself (Experiment.weight_decay sets weight_decay)
OPTIMIZER_ARGUMENTS = ("groups", "params", "lr", "weight_decay")


def keywords_taken(factory: Callable, skip: tuple[str, ...] = ()) -> frozenset[str] | None:
    """The keyword arguments `factory` (a function or a class) takes, less `skip`; None when it takes any
    (**kw) or its signature cannot be read, so that nothing is refused on its behalf."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return frozenset(name for name, p in parameters.items() if p.kind in named and name not in skip)


def unknown_keywords(given, taken: frozenset[str] | None) -> str:
    """The keywords of `given` outside `taken`, each with the closest one taken, as text ("" when all are)."""
    if taken is None:
        return ""
    return ", ".join(f"{key!r}{did_you_mean(key, taken)}" for key in sorted(set(given) - taken))


def entry_callable(entry: Any) -> Any:
    """The callable behind a registry entry: a spec's object itself, or the registered factory."""
    return entry.obj if isinstance(entry, SpecObject) else entry


def check_optimizer_options(optimizer: str, options: dict, who: str) -> None:
    """Refuse optimizer_kw keywords that `optimizer` would not use: an SGD option given to AdamW (or to
    one's own factory that does not take it) would otherwise be dropped without a word."""
    if "weight_decay" in options:
        raise ConfigError(f"{who}: optimizer_kw sets 'weight_decay'; set Experiment.weight_decay instead")
    own = keywords_taken(entry_callable(OPTIMIZERS.get(optimizer)), skip=OPTIMIZER_ARGUMENTS)
    wrong = unknown_keywords(options, None if own is None else own | set(HARNESS_OPTIMIZER_OPTIONS))
    if wrong:
        takes = ", ".join(sorted(own or ())) or "nothing more"
        raise ConfigError(
            f"{who}: optimizer_kw has {wrong}, which optimizer {optimizer!r} does not take; it takes {takes}, "
            f"and every optimizer takes {', '.join(HARNESS_OPTIMIZER_OPTIONS)}"
        )


def check_loss_options(loss: str, options: dict, who: str) -> None:
    """Refuse loss keywords (loss_kw, and 'weight' from class_weights) that `loss` would not get: a typo,
    a keyword of another loss, or any keyword to a loss module or function, which is used as it is."""
    if not options:
        return
    entry = LOSSES.get(loss)
    obj = entry_callable(entry)
    if isinstance(entry, SpecObject) and not inspect.isclass(obj):  # a module or a function, used as it is
        kind = "a module, used as it is" if hasattr(obj, "parameters") else "a function of (logits, targets)"
        raise ConfigError(
            f"{who}: loss {describe(obj, 80)} is {kind}, so the keywords {sorted(options)} would go nowhere "
            "(loss_kw; class_weights='balanced' passes 'weight'); give a loss class, which is called with "
            "them, e.g. loss=nn.CrossEntropyLoss"
        )
    taken = keywords_taken(obj)
    wrong = unknown_keywords(options, taken)
    if wrong:
        takes = ", ".join(sorted(taken or ())) or "no keywords"
        raise ConfigError(
            f"{who}: loss {loss!r} does not take {wrong}; it takes {takes} (class_weights='balanced' passes "
            f"'weight'){losses_taking(sorted(set(options) - (taken or frozenset())), loss)}"
        )


def losses_taking(keywords: list[str], besides: str) -> str:
    """'; loss='focal' takes 'gamma'' for each keyword another registered loss takes (torch's label_smoothing
    keyword is this harness's loss 'label_smoothing', whose keyword is 'smoothing')."""
    hints = []
    for keyword in keywords:
        if keyword == "label_smoothing" and "label_smoothing" in LOSSES.entries:
            hints.append("label smoothing is loss='label_smoothing', loss_kw={'smoothing': ...}")
            continue
        takers = [
            name
            for name in LOSSES.entries
            if name != besides and keyword in (keywords_taken(entry_callable(LOSSES.entries[name])) or ())
        ]
        if takers:
            hints.append(f"{' or '.join(f'loss={t!r}' for t in takers)} takes {keyword!r}")
    return ("; " + "; ".join(hints)) if hints else ""


# The built-in schedules' own warm-up in epochs, when the spec gives none (warmup_epochs=None); "plateau" has
# none to give: its rate follows the validation score from the first epoch.
SCHEDULE_WARMUP_EPOCHS = {"onecycle": 0.5, "cosine": 0.5, "step": 0.0, "none": 0.0, "plateau": 0.0}
WARMUP_ARGUMENT = "warmup_steps"  # what one's own scheduler factory takes to be told the warm-up


def check_scheduler_warmup(scheduler: str, warmup_epochs: float | None, who: str) -> None:
    """Refuse a warm-up the schedule would not do: plateau's, or one's own factory's when it takes no
    warmup_steps (both were dropped without a word)."""
    if not warmup_epochs:
        return
    entry = SCHEDULERS.get(scheduler)
    if isinstance(entry, SpecObject):
        taken = keywords_taken(entry.obj)
        if taken is not None and WARMUP_ARGUMENT not in taken:
            raise ConfigError(
                f"{who}: warmup_epochs={warmup_epochs!r}, but the scheduler factory {describe(entry.obj, 80)} takes "
                f"no {WARMUP_ARGUMENT!r}, so the warm-up would go unused; give the factory a {WARMUP_ARGUMENT} "
                "parameter or leave warmup_epochs unset"
            )
        return
    if scheduler == "plateau":
        raise ConfigError(
            f"{who}: warmup_epochs={warmup_epochs!r} with scheduler='plateau', which has no warm-up (its rate "
            "follows the validation score); use 'cosine', 'onecycle', 'step' or 'none', or leave warmup_epochs unset"
        )
