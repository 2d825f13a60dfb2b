"""Training throughput and quality on fashion.

    .venv/bin/python benchmarks/bench_train.py throughput [--model rescnn] [--steps 40]
    .venv/bin/python benchmarks/bench_train.py quality --model rescnn_wide --augmentation flip [--minutes 10]
        [--train-kw '{"weight_decay": 0.05}'] [--seeds 3]
    .venv/bin/python benchmarks/bench_train.py quality --recipe fast --seeds 3 [--precision auto
        --channels-last auto] [--save-probs DIR]

throughput: in one process, side by side, images/s of
  (a) the model-only ceiling: forward, backward and step on one pre-made batch,
      in fp32 and, where the CPU has bf16, under bf16 autocast (TrainConfig(amp="bf16"));
  (b) fit() on the cached fashion data (with the crop_flip augmentation);
  (c) the seed's way: a per-item PIL Dataset with torchvision transforms.
quality: a model trained on all 60,000 train images within a wall-clock
budget (the epochs come from its step rate, measured first), scored on the
eval split, plain and with flip TTA (answers read only here). Measured, 10
minutes, flip: rescnn_wide 0.9360 (0.9386 with TTA), rescnn 0.9245. Twice the
time does not help with flip alone (20 epochs: 0.9353, train accuracy 99.9%),
but does with pad-2 crops + flip (20 epochs, 17.8 min: 0.9417, 0.9426 with TTA).
On this CPU (avx512_bf16, no AMX) bf16 autocast trains at 0.79x fp32 speed.
That was rescnn; the fast recipe's SpeedNet is the other way round (bench_paths.py): with
--precision auto --channels-last auto the probe chose bf16 + channels_last (1441-1509 img/s against
fp32 + channels_last's 896-937, AMD EPYC avx512_bf16 avx512_vnni, no AMX, 2 threads), so 12 epochs fit
in the 10 minutes instead of 9: seeds 0-5, plain 0.9438 (sd 0.0008; each 0.9440 0.9425 0.9449 0.9432
0.9442 0.9440), flip TTA 0.9452, 6-view TTA 0.9466 (sd 0.0007); 9.7 min wall per seed on a quiet machine.
Two levers for the one-hour ensemble there (one seed each): a wider SpeedNet (--model-kw '{"widths": [64, 128,
256]}') fits 8 epochs in the 10 minutes (937 img/s) and scores 0.9400 plain, 0.9430 with TTA, below the default
width; 20 epochs of the default width (13.7 min) score 0.9480 plain, 0.9494 flip TTA, 0.9505 6-view TTA.
On an Intel Xeon with AMX (amx_bf16 amx_tile avx512_bf16 avx512_fp16, 2 threads) the probe measured fp32+nchw
1134, fp32+channels_last 1550, bf16+nchw 1858, bf16+channels_last 3121 img/s (chosen), so 26 epochs fit in
the 10 minutes (9.1-9.2 min of training per seed on a quiet machine): `--seeds 6 --seed 10 --minutes 10
--precision auto --channels-last auto --save-probs DIR`, seeds 10-15, plain 0.9474 (sd 0.0016; each 0.9472
0.9469 0.9494 0.9448 0.9483 0.9481), flip TTA 0.9501 (sd 0.0009), 6-view TTA 0.9507 (sd 0.0010). Their six
models (the hour) soft-voted: 0.9533 plain, 0.9547 flip TTA, 0.9538 6-view TTA; any three of them 0.9537 with
flip TTA (0.9523-0.9549 over the 20 trios). The wider SpeedNet that uses AMX's matmul rate better (0.29 of it,
bench_paths.py --widths 96 192 384) fits 10 epochs there: `--seeds 3 --seed 50 --model-kw '{"widths": [96, 192,
384]}'`, plain 0.9451 (sd 0.0007; each 0.9455 0.9443 0.9456), flip TTA 0.9473, 6-view TTA 0.9486; the three
soft-voted 0.9510 flip TTA (any three of the default width: 0.9537), 8.4-8.8 min of training per seed. So the
recipe keeps its width on AMX too.
On an Intel Xeon of the same model name whose AMX is not exposed (avx512_bf16 avx512_fp16, no amx flags,
2 threads) the probe measured fp32+nchw 751, fp32+channels_last 985 (chosen), bf16+nchw 664,
bf16+channels_last 723 img/s, so 8 epochs fit: `--seeds 6 --seed 20`, seeds 20-25, plain 0.9394 (sd 0.0011;
each 0.9392 0.9393 0.9402 0.9400 0.9403 0.9374), flip TTA 0.9413 (sd 0.0013), 6-view TTA 0.9421 (sd 0.0010);
7.6-8.9 min of training per seed when quiet. The six soft-voted: 0.9439 plain, 0.9446 flip TTA, 0.9466 6-view
TTA; any three 0.9446 with 6-view TTA (0.9432-0.9456).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for fixtures

from competition.augment import create_augmentation
from competition.cv import train_config
from competition.data import CachedDataset, Preprocess, cached_images, data_dir, load_builtin
from competition.execution import candidate_paths, choose, probe
from competition.experiment import EXECUTION_DEFAULTS, get_budget
from competition.provenance import cpu_model_and_isa
from competition.scoring import read_answers  # noqa: E402
from competition.metrics import compute_metrics
from competition.models import create_model
from competition.train import TrainConfig, fit
from competition.tta import tta_predict
from fixtures.models import RECIPES  # noqa: E402


def fashion_arrays(size: tuple[int, int] | None = None):
    """(competition, train images, eval images) of fashion from the decoded-image cache, at `size` (default 28 px)."""
    comp = load_builtin("fashion")
    spec = Preprocess(size=size, channels=1)
    return (comp, cached_images(comp.train["path"], spec, data_dir() / ".cache"),
            cached_images(comp.eval["path"], spec, data_dir() / ".cache"))


def step_rate(model, batches, steps: int, channels_last: bool, bf16: bool = False) -> float:
    """images/s of forward+backward+step over `batches` (an iterator of (x, y)), optionally under bf16 autocast."""
    opt = torch.optim.AdamW(model.parameters(), 3e-3)
    model.train()
    seen, start = 0, time.perf_counter()  # reset after the warm-up steps
    for i, (x, y) in enumerate(batches):
        if i == 3:
            seen, start = 0, time.perf_counter()  # skip warm-up steps
        if i >= steps + 3:
            break
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += len(y)
    return seen / (time.perf_counter() - start)


# fit() on the cache against the model-only step: 0.97-0.99 in fp32 (the throughput mode), 0.90 for the fast
# recipe in bf16 + channels_last (1337 img/s against the probe's 1479, AMD EPYC avx512_bf16): the data and the
# augmentation cost the same per image when the step gets faster. The lower figure keeps a run in its minutes.
# Intel Xeon with AMX (amx_bf16), 2 threads: 0.91-0.98 (3,160-3,520 img/s against the probe's 3,588); 0.67 before the
# augmentation's description stopped being built for every image (2,330 img/s: 29 planned epochs took 12 minutes).
FIT_SHARE = 0.9


def chosen_path(args, model_name: str, model_kw: dict, batch_size: int, spec_path: dict, device: str = "cpu",
                input_shape: tuple[int, int, int] = (1, 28, 28)) -> tuple[dict, float]:
    """The execution path to train on (--precision/--channels-last/--compile over the spec's; "auto" is
    chosen by the runner's probe, competition.execution) and its training rate in images/s, measured by
    that probe on this machine (median of interleaved rounds) and scaled by FIT_SHARE."""
    wanted = {name: getattr(args, name) if getattr(args, name) is not None else spec_path[name]
              for name in ("precision", "channels_last", "compile")}
    paths = candidate_paths(wanted["precision"], wanted["channels_last"], wanted["compile"], device)

    def make_model():
        return create_model(model_name, 10, in_chans=input_shape[0], **model_kw)

    records = probe(make_model, input_shape, 10, batch_size, device, paths, rounds=5, steps=4)
    fastest = max(record["images_per_s"] for record in records)
    planned_steps = int(args.minutes * 60 * fastest / batch_size)  # for compile's pay-back only
    chosen = choose(records, planned_steps, batch_size) if len(records) > 1 else records[0]
    cpu, isa = cpu_model_and_isa()
    where = torch.cuda.get_device_name() if device.startswith("cuda") else f"{cpu} ({isa or 'no AVX/AMX flags read'})"
    print(f"execution paths on {where}, {torch.get_num_threads()} threads, batch {batch_size}: "
          + ", ".join(f"{r['label']} {r['images_per_s']:.0f} img/s" for r in records)
          + f"; chosen {chosen['label']}", flush=True)
    return chosen, FIT_SHARE * chosen["images_per_s"]


def epochs_within(minutes: float, rate: float, train_rows: int, scored_rows_per_epoch: int = 0) -> int:
    """How many epochs of `train_rows` fit in `minutes` at `rate` training images per second, with
    `scored_rows_per_epoch` scored after each (forward only: taken as a third of training an image)."""
    epoch_seconds = train_rows / rate + scored_rows_per_epoch / (3 * rate)
    epochs = max(1, int(minutes * 60 / epoch_seconds))
    print(f"{epoch_seconds:.0f} s per epoch of {train_rows} rows: {epochs} epochs in {minutes:.1f} min", flush=True)
    return epochs


def auto_or_bool(text: str) -> bool | str:
    if text not in ("auto", "true", "false"):
        raise argparse.ArgumentTypeError(f"{text!r}: use auto, true or false")
    return "auto" if text == "auto" else text == "true"


def parse_augmentation(text: str):
    """A preset name, 'flip', or a JSON pipeline such as [["pad_crop", {"pad": 2, "size": [28, 28]}]]."""
    if text == "flip":
        return (("flip", {"p": 0.5}),)
    if text.startswith("["):
        return tuple((name, params) for name, params in json.loads(text))
    return text


class PILFashion(Dataset):
    def __init__(self, paths, labels):
        from torchvision import transforms as T
        self.paths, self.labels = list(paths), labels
        self.transform = T.Compose([T.RandomCrop(28, padding=3), T.RandomHorizontalFlip(), T.PILToTensor()])

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with Image.open(self.paths[i]) as im:
            return self.transform(im), int(self.labels[i])


def throughput(args) -> None:
    comp, train, _ = fashion_arrays()
    labels = comp.train["label"].to_numpy()
    bs, cl = args.batch_size, True
    make = lambda: create_model(args.model, 10, in_chans=1).to(memory_format=torch.channels_last)
    torch.manual_seed(0)
    x = torch.from_numpy(np.asarray(train[:bs])).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(labels[:bs]).long()
    ceiling = step_rate(make(), iter(lambda: (x, y), None), args.steps, cl)
    bf16_ok = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    bf16_ceiling = step_rate(make(), iter(lambda: (x, y), None), args.steps, cl, bf16=True) if bf16_ok else None

    aug = create_augmentation("crop_flip", (28, 28), seed=0)
    cfg = TrainConfig(epochs=1, batch_size=bs, max_steps_per_epoch=args.steps + 3, scheduler="none",
                      channels_last=cl, metrics=())
    result = fit(make(), CachedDataset(train, labels, aug), None, cfg, progress_file=False)
    fit_rate = (args.steps + 3) * bs / result.history[0]["seconds"]

    pil_loader = DataLoader(PILFashion(comp.train["path"], labels), bs, shuffle=True, num_workers=args.workers)
    pil_rate = step_rate(make(), iter(pil_loader), args.steps, cl)
    print(f"model {args.model}, batch {bs}, channels_last, {torch.get_num_threads()} threads, {args.steps} steps:")
    print(f"  model-only ceiling (one pre-made batch): {ceiling:8.0f} img/s")
    if bf16_ceiling is not None:
        print(f"  the same under bf16 autocast:            {bf16_ceiling:8.0f} img/s  ({bf16_ceiling / ceiling:.2f} of "
              "the fp32 ceiling)")
    print(f"  fit() on the cached data + crop_flip:    {fit_rate:8.0f} img/s  ({fit_rate / ceiling:.2f} of ceiling)")
    print(f"  per-item PIL Dataset + torchvision T:    {pil_rate:8.0f} img/s  ({pil_rate / ceiling:.2f} of ceiling; "
          f"fit is {fit_rate / pil_rate:.2f}x, workers={args.workers})")


def manual_setup(args):
    """(model name, model keywords, TrainConfig, augmentation spec) from the command-line flags, on the
    execution path chosen for them; the epochs from --minutes unless --epochs says."""
    model_kw, train_kw = json.loads(args.model_kw), json.loads(args.train_kw)
    path, rate = chosen_path(args, args.model, model_kw, train_kw.get("batch_size", 256), EXECUTION_DEFAULTS)
    epochs = args.epochs or epochs_within(args.minutes * 0.95, rate, 60_000)
    cfg = replace(TrainConfig(epochs=epochs, batch_size=256, scheduler="onecycle", loss="label_smoothing",
                              amp=None if path["precision"] == "fp32" else path["precision"],
                              channels_last=path["channels_last"], compile=path["compile"],
                              metrics=("accuracy", "macro_f1"), monitor="accuracy"), **train_kw)
    return args.model, model_kw, cfg, parse_augmentation(args.augmentation)


def recipe_setup(args, labels: np.ndarray):
    """The same from an experiment spec of competition.recipes (RECIPES), as its runner would train it."""
    experiment = RECIPES[args.recipe]
    experiment = experiment.with_(model_kw={**experiment.model_kw, **json.loads(args.model_kw)})  # e.g. wider
    spec_path = {name: getattr(experiment, name) for name in ("precision", "channels_last", "compile")}
    path, rate = chosen_path(args, experiment.model, experiment.model_kw, experiment.batch_size, spec_path)
    epochs = args.epochs or epochs_within(args.minutes * 0.95, rate, 60_000)
    experiment = experiment.with_(epochs=epochs, precision=path["precision"], channels_last=path["channels_last"],
                                  compile=path["compile"])
    cfg = replace(train_config(experiment, get_budget("full"), labels, 10, "cpu", seed=0, metric="accuracy"),
                  metrics=("accuracy", "macro_f1"), monitor="accuracy")
    return experiment.model, experiment.model_kw, cfg, experiment.augmentation


def quality(args) -> None:
    comp, train, eval_images = fashion_arrays()
    labels = comp.train["label"].to_numpy()
    answers = read_answers(comp).to_numpy()
    eval_set = CachedDataset(eval_images, None)
    views = {"plain": ("identity",), "flip TTA": ("identity", "hflip"),
             "flip + shift:1 TTA (6 views)": ("identity", "hflip", "shift:1")}
    scores: dict[str, list[float]] = {label: [] for label in views}
    seed_probs: dict[str, list[np.ndarray]] = {label: [] for label in views}
    # the path and the epochs are resolved once: every seed trains the same schedule on the same path
    model_name, model_kw, schedule, augmentation = recipe_setup(args, labels) if args.recipe else manual_setup(args)
    for seed in range(args.seed, args.seed + args.seeds):
        cfg = replace(schedule, seed=seed)
        aug = create_augmentation(augmentation, (28, 28), seed=seed)
        print(f"quality: {args.recipe or model_name} {model_kw}, augmentation {augmentation}, {cfg.epochs} epochs, "
              f"lr {cfg.lr} {cfg.optimizer} {cfg.optimizer_kw} weight decay {cfg.weight_decay}, amp {cfg.amp}, "
              f"channels_last {cfg.channels_last}, compile {cfg.compile}, seed {seed}",
              flush=True)
        start = time.perf_counter()
        torch.manual_seed(seed)
        result = fit(create_model(model_name, 10, in_chans=1, **model_kw), CachedDataset(train, labels, aug), None,
                     cfg, log=print, progress_file=False)
        print(f"seed {seed}: {cfg.epochs} epochs trained in {(time.perf_counter() - start) / 60:.1f} min wall on "
              f"{torch.get_num_threads()} threads; eval split, minutes since the start including that prediction:")
        for label, tta_views in views.items():
            probs = tta_predict(result.model, eval_set, tta_views)
            seed_probs[label].append(probs)
            found = compute_metrics(answers, probs)
            scores[label].append(found["accuracy"])
            print(f"  {label:<30} accuracy {found['accuracy']:.4f}  macro F1 {found['macro_f1']:.4f}  "
                  f"{(time.perf_counter() - start) / 60:.1f} min", flush=True)
    print(f"eval accuracy over {args.seeds} seed(s) ({args.seed}..{args.seed + args.seeds - 1}), mean [min, max], sd:")
    for label, values in scores.items():
        sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        print(f"  {label:<30} {np.mean(values):.4f} [{min(values):.4f}, {max(values):.4f}]  sd {sd:.4f}  "
              f"each {' '.join(f'{v:.4f}' for v in values)}")
    if args.seeds > 1:  # the seeds as one ensemble of full-data models: its cost is the seeds' minutes together
        print(f"the {args.seeds} seeds' models as one ensemble (mean of their probabilities):")
        for label, each_seed in seed_probs.items():
            print(f"  {label:<30} {compute_metrics(answers, np.mean(each_seed, axis=0))['accuracy']:.4f}")
    if args.save_probs:
        Path(args.save_probs).mkdir(parents=True, exist_ok=True)
        for offset, seed in enumerate(range(args.seed, args.seed + args.seeds)):
            arrays: dict = {label: each_seed[offset] for label, each_seed in seed_probs.items()}
            np.savez_compressed(Path(args.save_probs) / f"seed{seed}.npz", **arrays)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["throughput", "quality"])
    parser.add_argument("--model", default="rescnn")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--epochs", type=int, help="override the epochs derived from --minutes")
    parser.add_argument("--recipe", choices=sorted(RECIPES), help="train an experiment spec of fixtures/models.py "
                        "(its model, optimizer, loss and augmentation) instead of the flags below")
    parser.add_argument("--seeds", type=int, default=1, help="train this many seeds; report their mean and spread")
    parser.add_argument("--seed", type=int, default=0, help="the first seed")
    parser.add_argument("--save-probs", help="a folder for each seed's eval probabilities (seedN.npz, one array "
                        "per view set), to ensemble seeds across runs")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                        help="the training precision (default: the spec's; fp32 for a manual model); 'auto' lets "
                        "the probe choose")
    parser.add_argument("--channels-last", type=auto_or_bool, help="auto, true or false (default: the spec's)")
    parser.add_argument("--compile", type=auto_or_bool, help="auto, true or false (default: the spec's)")
    parser.add_argument("--augmentation", default="crop_flip",
                        help="a preset name, 'flip', or a JSON list of [name, params] pairs")
    parser.add_argument("--model-kw", default="{}",
                        help="JSON keywords for create_model (with --recipe: over the recipe's own)")
    parser.add_argument("--train-kw", default="{}",
                        help='JSON TrainConfig fields over the defaults, e.g. {"optimizer": "sgd", "lr": 0.1}')
    args = parser.parse_args()
    throughput(args) if args.mode == "throughput" else quality(args)


if __name__ == "__main__":
    main()
