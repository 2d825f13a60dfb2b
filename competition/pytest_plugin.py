"""Layer 6. pytest plugin (entry point ``pytest11``): options, markers, fixtures, the
terminal leaderboard and JUnit properties.

    pytest experiments --budget=smoke -k resnet
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import NoReturn
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch
from _pytest.runner import runtestprotocol
from pluggy import HookspecMarker

from . import gates
from .data import BUILTINS, data_dir, open_competition
from .experiment import AUTO_SEEDS, BUDGETS, CLAIM_MAX_SEEDS, Experiment, Result, get_budget
from .errors import CompetitionError, ConfigError
from .registry import describe
from .files import writable_folder
from .baselines import Baselines
from .gates import ClaimDeferred, GateFigure, Underpowered
from .html_report import write_html_report
from .tracking import open_tracker
from .report import (
    append_history,
    format_leaderboard,
    leaderboard_rows,
    rank_within_groups,
    run_folder,
    write_leaderboard,
    write_run_report,
)
from .executors import LocalExecutor, RayExecutor, TrainingNotAllowed, replay_history
from .posthoc import save_posthoc
from .runner import RunContext, resolve_device, run
from .scoring import eval_answers, score_eval
from .search import Search, SearchReport, search_run_names, storage_url, write_study_plots
from .search import run_search as search_through
from .store import Store

STATE = pytest.StashKey["SessionState"]()
ROUND_FIXTURES = {"until_decided", "run_search"}  # tests with claims decided in rounds of seeds
DEFERRED = pytest.StashKey[bool]()  # this pass left the test's claim undecided: it runs again in the next pass
PLANNED_LOOKS = pytest.StashKey[int]()  # how many looks the test's claims plan, fixed at its first look


class SessionState:
    """Results and gate figures gathered over one pytest session."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.results: dict[str, Result] = {}
        self.claims: list[dict] = []
        self.guard_figures: list[dict] = []
        self.searches: list[dict] = []  # SearchReport.to_dict() of each search run in the session
        self.tracked: list[dict] = []  # send_to_trackers' lines, once the session's results are sent
        self.worker_summaries: list[dict] = []
        self.competitions: dict[str, object] = {}  # xdist: what each finished worker sent
        self.started, self.units_trained, self.training_seconds = time.monotonic(), 0, 0.0
        self.memo: dict[tuple, object] = {}
        self.spec_of_name: dict[str, dict] = {}  # each experiment name's spec, but for its seeds (check_name)
        self.say_lock = threading.Lock()
        self.claim_pass: int | None = None  # the pass over the tests (claims may take this many looks); None: all
        self.first_pass: list[pytest.Item] = []  # the tests of pass 1, and the index of the one running
        self.first_pass_at = 0
        option = config.getoption
        self.budget = get_budget(option("--budget") or "standard")
        self.device = resolve_device(option("--device") or self.budget.device)
        self.data_root = data_dir(option("--data-dir"))
        try:  # a bad path or tracking URI is a usage error at start-up, not a traceback after the tests
            self.store = Store(option("--runs-dir"))
            self.reports = writable_folder(
                Path(option("--reports-dir")).resolve(), "reports dir", "choose another with --reports-dir"
            )
            self.trackers = {choice: open_tracker(choice, self.store.root) for choice in tracker_choices(config)}
        except CompetitionError as exc:
            raise pytest.UsageError(str(exc)) from None
        if option("--max-seeds") is not None and option("--max-seeds") < AUTO_SEEDS:
            raise pytest.UsageError(
                f"--max-seeds {option('--max-seeds')}: a claim's first round is {AUTO_SEEDS} "
                f"seeds per side, so the ceiling must be at least {AUTO_SEEDS}"
            )
        if option("--minutes") is not None and not option("--minutes") >= 0:  # NaN too
            raise pytest.UsageError(
                f"--minutes {option('--minutes')}: give the minutes the session may train (0: serve what the store "
                "holds, train nothing), or leave it out for the budget's"
            )
        self.minutes = option("--minutes") if option("--minutes") is not None else self.budget.minutes
        self.baselines = Baselines(Path(config.rootpath) / "fixtures" / "baselines", option("--update-baselines"))
        self.executor = (
            RayExecutor(address=option("--ray-address")) if option("--executor") == "ray" else LocalExecutor()
        )

    def terminal(self):
        return self.config.pluginmanager.get_plugin("terminalreporter")

    def say(self, line: str) -> None:
        """A line on the terminal now, also from inside a test: pytest captures what a test writes to the
        terminal's file descriptor and drops it when the test passes, so progress is written with capture
        suspended (under a lock: a search's trials report from threads)."""
        terminal = self.terminal()
        if terminal is None:
            return
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        with self.say_lock, capture.global_and_fixture_disabled() if capture else nullcontext():
            terminal.write_line(line)

    def check_name(self, experiment: Experiment) -> None:
        """One name, one spec (its seeds aside: a claim decided in rounds adds seeds under its name). A name
        is a run's report folder, its leaderboard row and what `submit --result` finds, so a parametrized
        test that left the parameter out of the name had each spec replace the one before, without a word."""
        spec = {k: v for k, v in experiment.to_dict().items() if k not in ("seeds", "max_seeds")}
        seen = self.spec_of_name.setdefault(experiment.name, spec)
        if seen != spec:
            fields = sorted(k for k in set(seen) | set(spec) if seen.get(k) != spec.get(k))
            shown = "; ".join(f"{k}: {describe(seen.get(k), 40)} then {describe(spec.get(k), 40)}" for k in fields[:3])
            raise ConfigError(
                f"experiment name {experiment.name!r} already names another spec in this session ({shown}); its "
                "report, leaderboard row and `submit --result` would be the last one's. Give each spec its own "
                f'name, e.g. spec.with_(name=f"{experiment.name}-{{...}}", ...)'
            )

    def keep(self, result) -> None:
        """Put a post-hoc result (an ensemble, TTA) on the leaderboard as a stored run with its report."""
        if not result.key:
            result = save_posthoc(result, self.store)
        write_run_report(result, run_folder(self.reports, result.name))
        self.results[result.name] = result

    def competition(self, name_or_path):
        """A competition, loaded once per session (reading a large train.csv and checking its files takes seconds)."""
        key = str(name_or_path)
        if key not in self.competitions:
            self.competitions[key] = open_competition(key, self.data_root)
        return self.competitions[key]

    def deadline(self) -> float | None:
        return None if self.minutes is None else self.started + 60 * self.minutes

    def trained(self, name: str, units: int, seconds: float, stored: int = 0) -> None:
        """Count the session's pace from the units a run trained, in the run's seconds (units it found in the
        store cost next to nothing and are not counted)."""
        if not units:
            return
        self.units_trained += units
        self.training_seconds += seconds
        if self.minutes is not None:
            elapsed = (time.monotonic() - self.started) / 60
            self.say(
                f"  [{name}] trained {units} unit(s) in {seconds / 60:.1f} min"
                + (f" ({stored} from the store)" if stored else "")
                + f"; session {elapsed:.1f} of {self.minutes:.0f} min"
            )

    def second_pass_out_of_reach(self) -> str:
        """Why this session's minutes cannot reach a second pass over the tests ("" when they can), from the
        minutes the first pass's experiment tests took so far. Time alone decides it, never a claim's figures."""
        if self.minutes is None or self.claim_pass != 1:
            return ""
        trains = lambda item: item.get_closest_marker("experiment") is not None and stated_here(item, self.budget.name)
        started = sum(map(trains, self.first_pass[: self.first_pass_at + 1]))
        left = sum(map(trains, self.first_pass[self.first_pass_at + 1 :]))
        spent = (time.monotonic() - self.started) / 60
        per_test = spent / max(started, 1)
        needed = spent + per_test * (left + 1)  # the rest of this pass, and a test's worth of second rounds
        if needed <= self.minutes:
            return ""
        return (
            f"{per_test:.1f} min per experiment test so far, so the {left} left in this pass and a second "
            f"round need about {needed:.0f} of the session's {self.minutes:.0f} min"
        )

    def seconds_per_unit(self) -> float:
        return self.training_seconds / max(self.units_trained, 1)

    def context(self, log=None) -> RunContext:
        progress = sys.__stderr__ if sys.__stderr__ and sys.__stderr__.isatty() else False
        return RunContext(
            store=self.store,
            data_root=self.data_root,
            device=self.device,
            rerun=self.config.getoption("--rerun"),
            progress_file=progress,
            log=log,
            cache_dir=self.config.getoption("--cache-dir"),
            executor=self.executor,
        )


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("competition", "image-classification competition experiments")
    group.addoption(
        "--budget",
        choices=list(BUDGETS),
        default=None,
        help="experiment budget: smoke (CI), standard (2-core CPU; default), full (GPU)",
    )
    group.addoption(
        "--data-dir", default=None, help="competitions' data directory (default $COMPETITION_DATA_DIR or ./data)"
    )
    group.addoption("--runs-dir", default="runs", help="the result store (default ./runs)")
    group.addoption("--reports-dir", default="reports", help="where per-run reports and leaderboard.md go")
    group.addoption(
        "--cache-dir",
        default=None,
        help="the decoded-image cache (default: <data dir>/.cache; never inside a competition)",
    )
    group.addoption(
        "--device",
        choices=["cpu", "cuda", "auto"],
        default=None,
        help="training device (default: the budget's: cpu, or cuda for full)",
    )
    group.addoption("--rerun", action="store_true", help="ignore store hits and train again")
    group.addoption(
        "--tracker",
        action="append",
        default=[],
        metavar="NAME[=TARGET]",
        help="send every result and search to a tracker when the session ends (registry.TRACKERS; "
        "repeatable): mlflow (a local SQLite store under the runs dir, or =URI of a tracking "
        "server; needs `pip install .[mlflow]`), jsonl (runs/tracked.jsonl, or =PATH)",
    )
    group.addoption(
        "--mlflow", nargs="?", const="", default=None, metavar="URI", help="short for --tracker mlflow[=URI]"
    )
    group.addoption(
        "--minutes",
        type=float,
        default=None,
        help="train for at most this many minutes in the session (default: the budget's; standard 60); "
        "later runs that would train are reported UNDERPOWERED",
    )
    group.addoption(
        "--max-seeds",
        type=int,
        default=None,
        help=f"the most seeds per side a claim decided in rounds may train (default {CLAIM_MAX_SEEDS}); "
        f"--max-seeds {AUTO_SEEDS} judges every claim once, on its first round",
    )
    group.addoption(
        "--update-baselines",
        action="store_true",
        help="promote improved scores to fixtures/baselines (never a worse one)",
    )
    group.addoption(
        "--competition", default=None, help="one's own competition directory, for the `my_competition` fixture"
    )
    group.addoption(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="who trains the units (fold x seed) the store lacks: this process (default), or Ray tasks; "
        "the gates run here either way",
    )
    group.addoption(
        "--ray-address",
        default=None,
        help="the Ray cluster for --executor ray (default $RAY_ADDRESS, else a Ray started on this machine)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "experiment: an experiment case (trains or scores models)")
    config.addinivalue_line("markers", "guard: gates CI on every commit (tolerances from measured seed variance)")
    config.addinivalue_line(
        "markers", "claim: states what a technique does; underpowered claims are skipped, never passed"
    )
    config.addinivalue_line("markers", "data: checks the data itself and trains nothing")
    config.addinivalue_line("markers", "slow: takes minutes even at the smoke budget")
    config.addinivalue_line("markers", "gpu: needs a CUDA device (skipped without one)")
    config.addinivalue_line(
        "markers",
        "budgets(*names, why=''): the budgets where this claim has the power to "
        "decide; at any other it is skipped before its fixtures train anything",
    )
    config.stash[STATE] = SessionState(config)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip before any fixture is set up: a test stated at other budgets, or one that needs a GPU."""
    if item.get_closest_marker("gpu") and not torch.cuda.is_available():
        skip_here("needs a CUDA device")
    if (stated := item.get_closest_marker("budgets")) is None:
        return
    names, why, budget = stated.args, stated.kwargs.get("why", ""), item.config.stash[STATE].budget.name
    if not names or any(name not in BUDGETS for name in names):
        pytest.fail(f"@pytest.mark.budgets{names}: name one or more of {list(BUDGETS)}", pytrace=False)
    if not stated_here(item, budget):
        skip_here(
            f"stated at budget {' or '.join(names)}, not {budget}"
            + (f" ({why})" if why else "")
            + f"; run it with --budget={names[0]}"
        )


def skip_here(message: str) -> NoReturn:
    """Skip the running test, reported at the test's own line as a skipif marker's skip is (pytest.skip from
    the plugin is reported at the plugin's line, which says nothing; _use_item_location is pytest's since 7.0)."""
    raise pytest.skip.Exception(message, _use_item_location=True)


def stated_here(item: pytest.Item, budget: str) -> bool:
    """Whether the test runs at this budget (@pytest.mark.budgets; without it, at every budget)."""
    stated = item.get_closest_marker("budgets")
    return stated is None or budget in stated.args


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session):
    """The tests in passes, so that claims decided in rounds spend the session breadth-first: pass 1 runs
    every test, and a claim still undecided after its first look is deferred; pass k runs the deferred tests
    again, their claims allowed k looks (earlier rounds are store hits). So under --minutes no claim trains
    its second round while another test has not run at all. xdist workers and controllers keep their own loop."""
    config = session.config
    if hasattr(config, "workerinput") or config.pluginmanager.get_plugin("dsession") is not None:
        return None
    if session.testsfailed and not config.option.continue_on_collection_errors:
        return None  # pytest's own loop reports the collection errors
    if config.option.collectonly:
        return True
    state = config.stash[STATE]
    queue, state.claim_pass = list(session.items), 1
    state.first_pass = queue
    while queue:
        deferred = []
        for i, item in enumerate(queue):
            state.first_pass_at = i
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=queue[i + 1] if i + 1 < len(queue) else None)
            if item.stash.get(DEFERRED, False):
                deferred.append(item)
            if session.shouldfail:
                raise session.Failed(session.shouldfail)
            if session.shouldstop:
                raise session.Interrupted(session.shouldstop)
        queue, state.claim_pass = deferred, state.claim_pass + 1
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """Gate figures of this test become its JUnit properties; an underpowered claim becomes a skip; a claim
    left undecided by this pass (ClaimDeferred) marks the test for the next pass, its figures not kept."""
    state = item.config.stash[STATE]
    item.stash[DEFERRED] = False
    with gates.collect_figures() as entries:
        try:
            with gates.claim_looks(claim_looks_now(item)), gates.planned_looks(look_plan(item)):
                return (yield)
        except ClaimDeferred as exc:
            item.stash[DEFERRED], entries[:] = True, []
            state.say(f"  [claim deferred] {exc}")
            return None
        except Underpowered as exc:
            skip_here(f"UNDERPOWERED: {exc}")
        finally:
            for figure in entries:
                item.config.hook.pytest_competition_gate(item=item, figure=figure)


class CompetitionHooks:
    """The hooks this plugin calls, for a conftest.py or another plugin to implement:

    # conftest.py: every gate's figures, as each test finishes
    def pytest_competition_gate(item, figure):
        if figure.gate == "regression":
            print(item.nodeid, figure.experiment, figure.figures["new"], figure.figures["baseline"])
    """

    @HookspecMarker("pytest")
    def pytest_competition_gate(self, item: pytest.Item, figure: GateFigure) -> None:
        """Called once for every figure a gate published while `item` ran (competition.gates.GateFigure),
        after the test's call, whether it passed or failed. Not called for a claim the plugin deferred to a
        later pass (its figures are those of the pass that decides it)."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(CompetitionHooks)


def pytest_competition_gate(item: pytest.Item, figure: GateFigure) -> None:
    """The plugin's own use of a gate's figure: JUnit properties, and for the suite's gates (tests marked
    experiment, claim or guard) the claims and guards of the terminal summary and the HTML report."""
    item.user_properties.extend(figure.properties())
    if not any(item.get_closest_marker(m) for m in ("experiment", "claim", "guard")):
        return
    state = item.config.stash[STATE]
    if figure.gate == "claim":
        state.claims.append({"test": item.nodeid, **figure.as_dict()})
    elif figure.gate in ("regression", "fault", "aa"):
        state.guard_figures.append(figure.as_dict())


def claim_looks_now(item: pytest.Item) -> int | None:
    """How many looks this test's claims may take in this pass: None (all they need) outside passes and for
    tests that use neither until_decided nor run_search (a unit test calling decide_claim keeps its own way)."""
    state = item.config.stash[STATE]
    return state.claim_pass if ROUND_FIXTURES & set(getattr(item, "fixturenames", ())) else None


def look_plan(item: pytest.Item):
    """The look plan of this test's claims (gates.planned_looks): all their looks, or one look (all the error at
    the first round) when the session's minutes cannot reach a second pass, where their later rounds would train;
    fixed the first time it is asked, so a deferred claim keeps its plan in later passes."""
    if claim_looks_now(item) is None:
        return None
    state = item.config.stash[STATE]

    def plan(looks: int) -> int:
        if PLANNED_LOOKS not in item.stash:
            why = state.second_pass_out_of_reach()
            item.stash[PLANNED_LOOKS] = 1 if why else looks
            if why and looks > 1:
                state.say(
                    f"  [claim planned] {item.name}: one look, judged on its first round with all its error: {why}"
                )
        return item.stash[PLANNED_LOOKS]

    return plan


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """In passes (pytest_runtestloop), a test with claims decided in rounds is reported after it ran, and not
    at all in a pass that deferred its claim: its one report, in JUnit and on the terminal, is its verdict.
    Other tests are reported live, as usual."""
    if claim_looks_now(item) is None:
        return None
    reports = runtestprotocol(item, nextitem=nextitem, log=False)
    if item.stash.get(DEFERRED, False):
        return True  # its teardown runs again in the next pass, and an error there is reported then
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for report in reports:
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


# --- fixtures ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def competition_session(pytestconfig) -> SessionState:
    return pytestconfig.stash[STATE]


@pytest.fixture(scope="session")
def budget(competition_session):
    """The session's Budget (its .name is 'smoke', 'standard' or 'full')."""
    return competition_session.budget


@pytest.fixture(scope="session")
def until_decided(pytestconfig) -> dict:
    """Spec fields for a claim decided in rounds of seeds (gates.decide_claim): spec.with_(**until_decided).
    --max-seeds caps the rounds for the session."""
    cap = pytestconfig.getoption("--max-seeds")
    return {"seeds": "auto", "max_seeds": CLAIM_MAX_SEEDS if cap is None else cap}


@pytest.fixture(scope="session")
def store(competition_session) -> Store:
    return competition_session.store


@pytest.fixture(scope="session")
def baselines(competition_session) -> Baselines:
    return competition_session.baselines


@pytest.fixture(scope="session")
def load_competition_by_name(competition_session):
    """Open a built-in competition by name, or one's own by path."""
    return competition_session.competition


def builtin_competition_fixture(name: str):
    """A session fixture named after a built-in competition ("fashion-lt" -> fashion_lt) that opens it once."""

    def competition(load_competition_by_name):
        return load_competition_by_name(name)

    competition.__doc__ = f"The built-in competition {name!r}, opened once per session."
    return pytest.fixture(competition, scope="session", name=name.replace("-", "_"))


for _builtin in BUILTINS:  # one fixture per built-in competition: fashion, fashion_lt, digits, fashion_photos
    globals()[f"builtin_{_builtin.replace('-', '_')}"] = builtin_competition_fixture(_builtin)


@pytest.fixture(scope="session")
def eval_answers_of():
    """eval_answers_of(competition) -> the eval answers (built-in competitions), for gates judged on eval;
    eval_answers_of(competition, rows="search") -> the confirmation split's labels (Experiment.rows)."""

    def answers(competition, rows="all"):
        found = eval_answers(competition, rows)
        if found is None:
            skip_here(f"{competition.name} has no eval answers")
        return found

    return answers


@pytest.fixture(scope="session")
def my_competition(pytestconfig, load_competition_by_name):
    """One's own competition, from --competition PATH."""
    path = pytestconfig.getoption("--competition")
    if not path:
        skip_here("pass --competition PATH to run experiments on your own competition")
    return load_competition_by_name(path)


@pytest.fixture(scope="session")
def run_experiment(competition_session):
    """run_experiment(Experiment) -> Result, through the store, at the session's budget.
    run_experiment(spec, on_epoch=f) calls f(unit index, history row) after every epoch (a search's pruner).

    Results are memoised for the session, reported under --reports-dir and put on
    the leaderboard.
    """
    state = competition_session

    def run_one(experiment: Experiment, on_epoch=None):
        state.check_name(experiment)
        memo_key = (experiment.name, repr(experiment.to_dict()))
        if memo_key in state.memo:
            for index, unit in enumerate(state.memo[memo_key].folds):
                replay_history(on_epoch, index, unit["history"])  # as an executor replays a stored unit
            return state.memo[memo_key]
        quiet = state.config.get_verbosity() <= -2  # -q -q
        log = (lambda line: state.say(f"  [{experiment.name}] {line}")) if state.terminal() and not quiet else None
        context = state.context(log)
        trained: list = []
        context.deadline, context.on_epoch, context.on_trained = state.deadline(), on_epoch, trained.append
        competition = state.competition(experiment.data)
        eval_answers(competition, experiment.rows)  # answers that cannot score are named before any training
        started = time.monotonic()
        try:
            result = run(experiment, state.budget, context)
        except TrainingNotAllowed as exc:
            state.trained(experiment.name, len(trained), time.monotonic() - started)
            needs = (
                f"about {exc.missing * state.seconds_per_unit() / 60:.0f} min more at this session's rate"
                if state.units_trained
                else "its time unmeasured in this session"
            )
            skip_here(
                f"UNDERPOWERED: the {state.minutes:.0f}-minute training budget is spent; {exc}, {needs}; "
                "run with --minutes or BUDGET=full"
            )
        state.trained(experiment.name, len(trained), time.monotonic() - started, len(result.folds) - len(trained))
        result = score_eval(result, competition)
        write_run_report(result, run_folder(state.reports, experiment.name))
        state.memo[memo_key] = result
        state.results[experiment.name] = result
        return result

    return run_one


@pytest.fixture(scope="session")
def run_search(competition_session, run_experiment):
    """run_search(Search) -> SearchReport: the search's trials through run_experiment (each on the
    leaderboard, pruned from its epochs), its Optuna study in the runs dir, then its best trial confirmed
    against the base on the confirmation split; no new batch of trials starts once --minutes is spent.
    Assert on report.confirmation["outcome"] (or use gates on the confirmed results)."""
    state = competition_session

    def search_one(search: Search, confirmation: bool = True) -> SearchReport:
        log = (lambda line: state.say(f"  [{search.name}] {line}")) if state.terminal() else None
        workers = search.parallel if isinstance(state.executor, RayExecutor) else 1
        if workers > 1:
            state.executor.ray()  # connected here, in the main thread; the trials run on threads
        report = search_through(
            search,
            run_experiment,
            state.competition(search.base.data),
            state.budget,
            storage_url(state.store.root),
            deadline=state.deadline(),
            log=log,
            workers=workers,
            confirmation=confirmation,
        )
        # the study's plots now, where the search ran: an xdist worker sends its searches to the trackers
        entry = report.to_dict()
        entry["images"] = write_study_plots(report, state.reports / "searches" / report.name)
        state.searches.append(entry)
        return report

    return search_one


def guard_lines(figures: list[dict]) -> list[str]:
    lines = []
    for f in figures:
        if f["gate"] == "regression":
            lines.append(
                f"regression  {f['experiment']} {f['measure']}: {f['new']:.4f} over {f['seeds']} seed(s) vs "
                f"baseline {f['baseline']:.4f} (seed sd {f['seed_sd']:.4f}"
                + (f", floored at one row's worth {f['sd_floor']:.4f}" if f.get("sd_floor") else "")
                + f"); tolerance {f['tolerance']:.4f}, "
                f"smallest regression detected at 80% power {f['detectable']:.4f}"
            )
        elif f["gate"] == "fault":
            lines.append(f"fault       {f['experiment']} ({f['kind']}): caught by {f['caught']}")
        else:
            lines.append(
                f"A/A         {f['experiment']} seeds {f['seeds']}, {f['threads']} thread(s): "
                f"{f['failures']} guard(s) failed"
            )
    return lines


def tracker_choices(config: pytest.Config) -> list[str]:
    """The --tracker choices, with --mlflow [URI] as the one it is short for."""
    choices = list(config.getoption("--tracker"))
    if (uri := config.getoption("--mlflow")) is not None:
        choices.append(f"mlflow={uri}" if uri else "mlflow")
    return choices


def send_to_trackers(state: SessionState) -> list[dict]:
    """Every search, then every result (a search's trials and confirmation as its children), to each tracker;
    returns a line per tracker ({"line", "failed"}) for the summary. Each xdist worker sends its own results
    (the controller holds none), one worker at a time (the store's lock: an MLflow SQLite file or a JSON-lines
    file takes one writer). A tracker that fails is named with why; the results stay in the store and the other
    trackers still get them."""
    said: list[dict] = []
    if not state.results:  # nothing ran here (an xdist controller, or every test deselected)
        return said
    for choice, tracker in state.trackers.items():
        name = choice.partition("=")[0]
        try:
            with state.store.lock("trackers"):
                parents = {}
                for search in state.searches:
                    parent = tracker.log_search(search, state.reports / "searches" / search["name"])
                    parents.update({run_name: parent for run_name in search_run_names(search)})
                for result in state.results.values():
                    tracker.log_result(result, run_folder(state.reports, result.name), parents.get(result.name))
        except Exception as exc:
            line = (
                f"tracker {name} failed: {type(exc).__name__}: {exc}; the results are kept "
                f"in the store ({state.store.root}); fix it and run again (store hits are "
                "sent again without training)"
            )
            said.append({"line": line, "failed": True})
            continue
        said.append(
            {"line": f"tracker {name}: {len(state.results)} run(s) sent to {tracker.describe()}", "failed": False}
        )
    return said


WORKER_KEY = "competition_summary"


def session_summary(state: SessionState) -> dict:
    """What a session contributes to the summary: leaderboard rows, claims, guard figures (JSON-safe)."""
    rows = leaderboard_rows(state.results.values()) if state.results else []
    return json.loads(
        json.dumps(
            {
                "rows": rows,
                "claims": state.claims,
                "guards": state.guard_figures,
                "searches": state.searches,
                "tracked": state.tracked,
            },
            default=float,
        )
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker hands its part of the summary to the controller instead of writing it."""
    state = session.config.stash.get(STATE, None)
    if state is not None and hasattr(session.config, "workeroutput"):
        state.tracked = send_to_trackers(state)
        session.config.workeroutput[WORKER_KEY] = json.dumps(session_summary(state))
    if state is not None:
        state.executor.shutdown()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """xdist controller: gather a finished worker's summary."""
    state = node.config.stash.get(STATE, None)
    received = getattr(node, "workeroutput", {}).get(WORKER_KEY)
    if state is not None and received:
        state.worker_summaries.append(json.loads(received))


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or hasattr(config, "workeroutput"):
        return
    state.tracked = send_to_trackers(state)
    parts = [session_summary(state), *state.worker_summaries]
    rows = rank_within_groups([row for part in parts for row in part["rows"]])
    claims = [claim for part in parts for claim in part["claims"]]
    guards = [figure for part in parts for figure in part["guards"]]
    searches = [search for part in parts for search in part.get("searches", [])]
    if searches:
        terminalreporter.section("competition searches")
        for search in searches:
            search["lines"] = SearchReport.from_dict(search).lines()
            for line in search["lines"]:
                terminalreporter.write_line(line)
    if guards:
        terminalreporter.section("competition guards")
        for line in guard_lines(guards):
            terminalreporter.write_line(line)
    if rows:
        terminalreporter.section(f"competition leaderboard (budget: {state.budget.name})")
        for line in format_leaderboard(rows):
            terminalreporter.write_line(line)
        history = append_history(rows, state.store.root / "history.jsonl")
        path = write_leaderboard(rows, state.reports / "leaderboard.md", history)
        page = write_html_report(rows, claims, guards, state.reports, searches)
        terminalreporter.write_line(f"reports: {state.reports / 'runs'}; leaderboard: {path}; HTML: {page}")
    for said in (said for part in parts for said in part.get("tracked", [])):
        terminalreporter.write_line(said["line"], red=said["failed"])
    if claims:
        terminalreporter.section("competition claims")
        for claim in claims:
            seeds = f"seeds {claim.get('seeds_a')}/{claim.get('seeds_b')}"
            if "look" in claim:  # decided in rounds of seeds
                seeds += f" (look {claim['look']} of {claim['looks']})"
            figures = (
                f"delta {claim['delta']:+.4f} [{claim['low']:+.4f}, {claim['high']:+.4f}] "
                f"MDE {claim['mde']:.4f} {seeds}"
                if "delta" in claim
                else seeds
            )
            terminalreporter.write_line(
                f"{claim['outcome'].upper():<13} {claim['experiment']} "
                f"{claim.get('claim', '')} {claim['other']}: {figures}"
            )
