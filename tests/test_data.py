"""The data layer: adapters, built-ins, cache, dataset, splits, EDA, bad input."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import ShuffleSplit, StratifiedKFold

from competition.data import (CachedDataset, LeakageError, Preprocess, cached_images, check_no_leakage,
                              load_competition, make_loader, make_splits, mask_class, prepare)
from competition import scoring
from competition.data import builtin, cache, photos
from competition.data.eda import duplicates_across, duplicates_within, image_hashes, run_eda
from competition.data.formats import AGE_NAMES, MASK_STEMS, age_band
from competition.errors import ChecksumError, ConfigError, DataError
from competition.experiment import BUDGETS, Experiment
from competition.cv import make_folds
from competition.runner import prepare_data

from conftest import write_image


# --- adapters ---------------------------------------------------------------
def test_csv_adapter_builds_canonical_table(csv_comp):
    comp = load_competition(csv_comp)
    assert comp.format == "csv" and comp.task.num_classes == 3
    assert list(comp.train.columns[:4]) == ["image_id", "path", "label", "group"]
    assert comp.train["label"].tolist() == [i % 3 for i in range(24)]
    assert all(Path(p).is_absolute() and Path(p).exists() for p in comp.train["path"])
    assert (comp.eval["label"] == -1).all() and len(comp.eval) == 5


def test_csv_adapter_accepts_class_names(csv_comp):
    df = pd.read_csv(csv_comp / "train" / "train.csv")
    df["label"] = df["label"].map({0: "cat", 1: "dog", 2: "fox"})
    df.to_csv(csv_comp / "train" / "train.csv", index=False)
    comp = load_competition(csv_comp)
    assert comp.task.class_names == ("cat", "dog", "fox")
    assert comp.train["label"].tolist() == [i % 3 for i in range(24)]


def test_mask_adapter_encodes_all_18_classes_by_the_formula(mask_comp):
    comp = load_competition(mask_comp)
    assert comp.format == "mask" and comp.task.num_classes == 18
    assert sorted(comp.train["label"].unique()) == list(range(18))
    for row in comp.train.itertuples():
        age_band = 0 if row.age < 30 else 1 if row.age < 60 else 2
        assert row.label == 6 * row.mask + 3 * row.gender + age_band
        stem = Path(row.path).stem
        assert row.mask == MASK_STEMS[stem]
    # groups are persons: 7 images per person, one group each
    assert comp.train.groupby("group").size().tolist() == [7] * 6
    assert comp.train.groupby("group")["gender"].nunique().max() == 1
    assert len(AGE_NAMES) == 3 and mask_class(2, 1, 60) == 17 and mask_class(0, 0, 29) == 0


def test_folder_adapter(tmp_path, rng):
    for cls in ("ant", "bee"):
        for i in range(3):
            write_image(tmp_path / "train" / "images" / cls / f"{i}", rng)
    comp = load_competition(tmp_path)
    assert comp.format == "folder" and comp.task.class_names == ("ant", "bee")
    assert comp.train["label"].tolist() == [0, 0, 0, 1, 1, 1]


def test_the_colour_check_reads_an_image_opencv_cannot(tmp_path, rng):
    """A TGA among the first images: OpenCV cannot decode it, PIL can, and the check goes on with PIL's pixels
    (it stopped with an AttributeError on None)."""
    from PIL import Image

    gray, colour = tmp_path / "gray.tga", tmp_path / "colour.tga"
    Image.fromarray(rng.integers(0, 255, (12, 10), dtype=np.uint8)).save(gray)
    Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)).save(colour)
    assert cv2.imread(str(colour)) is None
    assert cache.image_channels([gray]) == 1 and cache.image_channels([gray, colour]) == 3


# --- bad input: each names the file/row/value and says what to do ------------
def test_missing_image_file_names_file_and_row(csv_comp):
    (csv_comp / "train" / "images" / "img05.png").unlink()
    with pytest.raises(DataError, match=r"train\.csv: image file not found for row 7: .*img05\.png.*Restore"):
        load_competition(csv_comp)


def test_missing_column_names_it(csv_comp):
    df = pd.read_csv(csv_comp / "train" / "train.csv").drop(columns="label")
    df.to_csv(csv_comp / "train" / "train.csv", index=False)
    with pytest.raises(DataError, match=r"train\.csv: missing required column\(s\) \['label'\]; found columns"):
        load_competition(csv_comp)


@pytest.mark.parametrize("bad", ["7", "-1", "zebra"])
def test_label_out_of_range_or_unknown_names_row_and_value(csv_comp, bad):
    (csv_comp / "competition.json").write_text(json.dumps({"classes": ["a", "b", "c"]}))
    df = pd.read_csv(csv_comp / "train" / "train.csv")
    df["label"] = df["label"].astype(str)
    df.loc[3, "label"] = bad
    df.to_csv(csv_comp / "train" / "train.csv", index=False)
    with pytest.raises(DataError, match=rf"row 5 column 'label' has label '{bad}'"):
        load_competition(csv_comp)


def test_empty_split(csv_comp):
    (csv_comp / "train" / "train.csv").write_text("path,label\n")
    with pytest.raises(DataError, match="the split is empty"):
        load_competition(csv_comp)


def test_wrong_layout_names_directory_and_expected_layout(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(DataError, match=r"not a competition directory; expected <root>/train/train\.csv"):
        load_competition(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_competition(tmp_path / "nope")


def test_mask_missing_image_and_bad_gender(mask_comp):
    person = sorted((mask_comp / "train" / "images").iterdir())[0]
    next(person.glob("normal.*")).unlink()
    with pytest.raises(DataError, match=r"image file\(s\) \['normal'\] not found"):
        load_competition(mask_comp)
    df = pd.read_csv(mask_comp / "train" / "train.csv", dtype=str)
    df.loc[0, "gender"] = "robot"
    df.to_csv(mask_comp / "train" / "train.csv", index=False)
    with pytest.raises(DataError, match="row 2 has gender 'robot'"):
        load_competition(mask_comp)


def test_corrupt_image_is_named_and_cache_is_left_intact(csv_comp, tmp_path):
    comp = load_competition(csv_comp)
    cache_dir = tmp_path / "cache"
    good = np.array(cached_images(comp.train["path"], Preprocess(size=8), cache_dir))
    entries_before = sorted(p.name for p in cache_dir.iterdir())
    bad_path = Path(comp.train["path"].iat[4])
    bad_path.write_bytes(b"not an image at all")
    with pytest.raises(DataError, match=rf"{bad_path.name}: corrupt or unreadable image.*re-export"):
        cached_images(comp.train["path"], Preprocess(size=8), cache_dir)
    assert sorted(p.name for p in cache_dir.iterdir()) == entries_before  # no half-written entry
    # the earlier entry is still complete and unchanged
    assert np.array_equal(cache.read_entry(cache_dir / entries_before[0]), good)


def test_checksum_mismatch_names_file_and_what_to_do(tmp_path, monkeypatch):
    for name in builtin.FASHION_FILES:
        (tmp_path / name).write_bytes(b"\x00\x00\x08\x01" + b"\x00" * 20)
    monkeypatch.setenv(builtin.FASHION_SOURCE_ENV, str(tmp_path))
    with pytest.raises(ChecksumError, match=r"checksum mismatch for train-images-idx3-ubyte .*delete it"):
        builtin.prepare("fashion", tmp_path / "data")
    assert not (tmp_path / "data" / "fashion").exists()  # nothing half-written


# --- built-ins -------------------------------------------------------------------
def test_digits_builtin_is_prepared_once(tmp_path):
    root = prepare("digits", tmp_path)
    stamp = (root / "competition.json").stat().st_mtime_ns
    comp = load_competition(root)
    assert comp.task.num_classes == 10 and len(comp.train) + len(comp.eval) == 1797
    assert prepare("digits", tmp_path) == root and (root / "competition.json").stat().st_mtime_ns == stamp
    # answers are apart from train/eval and align with eval ids
    answers = scoring.read_answers(comp)
    assert len(answers) == len(comp.eval) and set(answers) == set(range(10))
    assert "ans" not in comp.eval.columns


def test_long_tail_profile_is_exponential_with_ratio_100():
    counts = builtin.lt_class_counts()
    assert counts[0] == 6000 and counts[-1] == 60 and counts == sorted(counts, reverse=True)
    ratios = np.array(counts[:-1]) / np.array(counts[1:])
    assert np.allclose(ratios, 100 ** (1 / 9), rtol=0.02)
    labels = np.repeat(np.arange(10), 6000)
    keep = builtin.long_tail_indices(labels)
    assert np.bincount(labels[keep]).tolist() == counts
    assert np.array_equal(keep, builtin.long_tail_indices(labels))  # fixed seed


def test_idx_parser_reads_header_and_shape():
    data = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(12))
    assert builtin.parse_idx(data).shape == (2, 2, 3)


# --- cache and preprocessing ----------------------------------------------------
def test_cache_is_built_once_and_keyed_by_content_and_preprocessing(csv_comp, tmp_path, monkeypatch):
    paths = load_competition(csv_comp).train["path"]
    first = cached_images(paths, Preprocess(size=6), tmp_path)
    calls = []
    monkeypatch.setattr(cache, "write_entry", lambda *a, **k: calls.append(a))
    again = cached_images(paths, Preprocess(size=6), tmp_path)
    assert calls == [] and np.array_equal(first, again)
    assert again.shape == (24, 6, 6, 3) and again.dtype == np.uint8
    assert cache.cache_key(list(paths), Preprocess(size=6)) != cache.cache_key(list(paths), Preprocess(size=7))
    write_image(Path(paths.iat[0]).with_suffix(""), np.random.default_rng(9))
    assert cache.cache_key(list(paths), Preprocess(size=6)) != first.filename


def test_incomplete_entry_from_a_killed_writer_is_rebuilt(csv_comp, tmp_path):
    paths = list(load_competition(csv_comp).train["path"])
    spec = Preprocess(size=6)
    entry = tmp_path / cache.cache_key(paths, spec)
    entry.mkdir()
    np.save(entry / "images.npy", np.zeros((3, 6, 6, 3), np.uint8))  # no meta.json: never finished
    images = cached_images(paths, spec, tmp_path)
    assert images.shape[0] == 24 and images.any()


def test_crops_and_grayscale_to_rgb(tmp_path):
    image = np.zeros((40, 60), np.uint8)
    image[10:20, 30:50] = 255
    path = tmp_path / "g.png"
    import cv2
    cv2.imwrite(str(path), image)
    assert cache.preprocess_image(path, Preprocess(crop="center", channels=1)).shape == (40, 40, 1)
    box = cache.preprocess_image(path, Preprocess(crop="box:30,10,50,20", channels=3))
    assert box.shape == (10, 20, 3) and (box == 255).all()  # gray repeated into RGB
    # no face in a synthetic image: the face crop falls back to the centre square
    face = cache.preprocess_image(path, Preprocess(crop="face", size=(16, 16), channels=1))
    center = cache.preprocess_image(path, Preprocess(crop="center", size=(16, 16), channels=1))
    assert np.array_equal(face, center)
    with pytest.raises(DataError, match="outside the 60x40 image"):
        cache.preprocess_image(path, Preprocess(crop="box:0,0,70,10"))
    window = cache.preprocess_image(path, Preprocess(crop="center:20,30", channels=1))
    assert window.shape == (20, 30, 1) and np.array_equal(window[..., 0], image[10:30, 15:45])
    with pytest.raises(DataError, match="larger than the 60x40 image"):
        cache.preprocess_image(path, Preprocess(crop="center:50,30"))
    for bad in ("center:20", "box:1,2,3", "center:a,b"):
        with pytest.raises(DataError, match="non-negative integers after the colon"):
            Preprocess(crop=bad)


def test_face_crop_finds_a_drawn_face_free_region_fallback_on_real_photo():
    from sklearn.datasets import load_sample_image
    photo = load_sample_image("china.jpg")
    box = cache.face_box(photo, 0.4)
    h, w = photo.shape[:2]
    assert box == cache.center_box(h, w)  # a temple: no frontal face


# --- dataset and loader ----------------------------------------------------------
def test_dataset_batches_keep_order_and_loader_is_seeded():
    images = np.arange(10 * 2 * 2 * 1, dtype=np.uint8).reshape(10, 2, 2, 1)
    ds = CachedDataset(images, np.arange(10))
    items = ds.__getitems__([7, 2, 5])
    assert [int(y) for _, y in items] == [7, 2, 5]
    assert torch.equal(items[0][0], torch.from_numpy(images[7]).permute(2, 0, 1))
    order = lambda seed: torch.cat([y for _, y in make_loader(ds, 4, shuffle=True, seed=seed)]).tolist()
    assert order(1) == order(1) and order(1) != order(2) and sorted(order(1)) == list(range(10))
    with pytest.raises(DataError, match="empty"):
        CachedDataset(images[:0])


# --- splits ---------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["kfold", "stratified", "group", "stratified_group"])
def test_splits_partition_rows_and_are_seeded(scheme):
    groups = np.arange(60) // 4 if "group" in scheme else np.arange(60)
    table = pd.DataFrame({"label": np.arange(60) % 3, "group": groups})
    folds = make_splits(table, scheme, n_splits=5, seed=3)
    val = np.concatenate([v for _, v in folds])
    assert sorted(val) == list(range(60))
    for train, v in folds:
        assert not set(train) & set(v)
        if "group" in scheme:
            check_no_leakage(table.iloc[train], table.iloc[v])
    again = make_splits(table, scheme, n_splits=5, seed=3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again))


@pytest.mark.parametrize("splitter", [StratifiedKFold(3, shuffle=True), ShuffleSplit(1, test_size=0.25)],
                         ids=["stratified-kfold", "shuffle-split-holdout"])  # several ShuffleSplits overlap: refused
def test_ones_own_shuffling_splitter_without_a_random_state_follows_the_split_seed(splitter):
    """Such a splitter drew other folds at every call: the same spec scored other rows on every run, and the
    store served whichever draw came first as the spec's."""
    table = pd.DataFrame({"label": np.arange(60) % 3})
    spec = Experiment("own", cv=splitter)
    first, again = make_folds(spec, table), make_folds(spec, table)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(first, again))
    other = make_folds(spec.with_(split_seed=spec.split_seed_value + 1), table)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(first, other))
    assert splitter.random_state is None  # the user's object is left as it was


def digits_with_fold_column(data_root: Path, tmp_path: Path) -> Path:
    """The digits built-in with a `fold` column (Kaggle's train_folds.csv): 0-2, and -1 (train only) for some rows."""
    import shutil
    root = tmp_path / "digits-folds"
    shutil.copytree(data_root / "digits", root)
    df = pd.read_csv(root / "train" / "train.csv")
    df["fold"] = np.where(np.arange(len(df)) % 10 == 9, -1, np.arange(len(df)) % 3)
    df.to_csv(root / "train" / "train.csv", index=False)
    return root


def test_folds_a_column_of_train_csv_assigns_are_the_folds_after_any_subsample(data_root, tmp_path):
    """A team's fold column made the user reach for PredefinedSplit, whose folds are the whole CSV's rows: under a
    budget's subsample (or skipped rows) they fell on other rows. cv='folds:<column>' reads the rows as trained."""
    from competition.runner import RunContext, run
    from competition.store import Store
    from competition.experiment import Budget
    root = digits_with_fold_column(data_root, tmp_path)
    spec = Experiment("folds", data=str(root), model="rescnn", model_kw={"width": 4}, epochs=1, batch_size=32,
                      cv="folds:fold")
    tiny = Budget("tiny", max_train=150, max_epochs=1)
    data = prepare_data(spec, tiny, load_competition(root), tmp_path / "cache")
    csv = pd.read_csv(root / "train" / "train.csv").set_index("image_id")["fold"]
    fold_of = csv.loc[data.table["image_id"]].to_numpy()
    folds = make_folds(spec, data.table)
    assert len(folds) == 3 and len(data.table) == 150
    for k, (train, val) in enumerate(folds):
        assert set(fold_of[val]) == {k} and k not in set(fold_of[train])
        assert set(np.flatnonzero(fold_of == -1)) <= set(train)  # -1: a row that only trains
    context = RunContext(store=Store(tmp_path / "runs"), data_root=data_root, progress_file=False,
                         cache_dir=tmp_path / "cache")
    first = run(spec, tiny, context)
    assert len(first.folds) == 3 and len(first.oof_index) == int((fold_of != -1).sum())
    assert run(spec, tiny, context).provenance.cache_hit
    df = pd.read_csv(root / "train" / "train.csv")
    df["fold"] = np.where(df["fold"] == -1, -1, (df["fold"] + 1) % 3)  # the same rows, other folds
    df.to_csv(root / "train" / "train.csv", index=False)
    assert not run(spec, tiny, context).provenance.cache_hit, "edited folds retrain"


@pytest.mark.filterwarnings("ignore:The groups parameter is ignored:UserWarning")
def test_a_splitter_made_for_other_rows_or_a_fold_column_that_is_not_there_is_named(data_root, tmp_path):
    from sklearn.model_selection import PredefinedSplit
    from competition.experiment import Budget
    root = digits_with_fold_column(data_root, tmp_path)
    tiny = Budget("tiny", max_train=150, max_epochs=1)
    data = prepare_data(Experiment("f", data=str(root)), tiny, load_competition(root), tmp_path / "cache")
    whole_csv = PredefinedSplit(pd.read_csv(root / "train" / "train.csv")["fold"])
    with pytest.raises(ConfigError, match=r"holds the folds of \d+ rows, and the train table here has 150 .*"
                                          r"use cv='folds:<column>'"):
        make_folds(Experiment("f", cv=whole_csv), data.table)
    with pytest.raises(ConfigError, match=r"no column 'fodl' \(did you mean 'fold'\?\).*beside the path, label "
                                          r"and group are \['fold'\]"):
        prepare_data(Experiment("f", data=str(root), cv="folds:fodl"), tiny, load_competition(root), tmp_path / "c")
    with pytest.raises(ConfigError, match="cv='folds:': name the column"):
        Experiment("f", cv="folds:")
    table = pd.DataFrame({"label": np.arange(12) % 2, "group": np.arange(12) // 2, "fold": np.arange(12) % 3})
    with pytest.raises(ConfigError, match=r"cv='folds:fold': fold 0 puts \d+ group\(s\) on both sides.*"
                                          "give every row of a group the same fold"):
        make_folds(Experiment("f", cv="folds:fold"), table)
    one = pd.DataFrame({"label": np.arange(12) % 2, "fold": [0] * 6 + [-1] * 6})
    with pytest.raises(ConfigError, match=r"gives 1 fold\(s\).*needs at least two"):
        make_folds(Experiment("f", cv="folds:fold"), one)


def test_a_splitters_key_covers_the_middle_of_its_arrays():
    """PredefinedSplit's repr elides the middle of its fold array, so a fold edited there kept the key."""
    from sklearn.model_selection import PredefinedSplit
    folds = np.arange(5000) % 5
    edited = folds.copy()
    edited[2500] = 4
    assert Experiment("f", cv=PredefinedSplit(folds)).cv != Experiment("f", cv=PredefinedSplit(edited)).cv


def test_a_random_state_the_user_gave_is_kept():
    table = pd.DataFrame({"label": np.arange(60) % 3})
    folds = make_folds(Experiment("own", cv=StratifiedKFold(3, shuffle=True, random_state=5)), table)
    theirs = StratifiedKFold(3, shuffle=True, random_state=5).split(np.zeros((60, 1)), table["label"])
    assert all(np.array_equal(a[1], val) for a, (_, val) in zip(folds, theirs))


def test_holdout_and_leakage_error_names_groups():
    table = pd.DataFrame({"label": np.arange(40) % 2, "group": np.arange(40) // 4})
    [(train, val)] = make_splits(table, "holdout", seed=0)
    assert len(val) == 8
    check_no_leakage(table.iloc[train], table.iloc[val])  # repeating groups make holdout a group split
    with pytest.raises(LeakageError, match=r"1 group\(s\) on both sides of the split: 1;"):
        check_no_leakage(table.iloc[:8], table.iloc[4:12])


@pytest.mark.parametrize("scheme", ["kfold", "stratified"])
def test_a_scheme_that_ignores_repeating_groups_is_refused(scheme):
    table = pd.DataFrame({"label": np.arange(40) % 2, "group": [f"person{i // 7}" for i in range(40)]})
    with pytest.raises(ConfigError, match=rf"cv scheme '{scheme}' ignores groups, but 6 groups .*person0, "
                                          r"person1.*use 'stratified_group:<k>'"):
        make_splits(table, scheme, n_splits=3)


def test_bagging_resamples_whole_groups_when_groups_repeat():
    table = pd.DataFrame({"label": np.arange(40) % 2, "group": np.arange(40) // 4})
    for train, oob in make_splits(table, "bootstrap", n_splits=3, seed=0):
        check_no_leakage(table.iloc[train], table.iloc[oob])
        assert len(oob) % 4 == 0


def test_stratified_split_with_too_few_members_says_what_to_do():
    table = pd.DataFrame({"label": [0] * 10 + [1] * 2})
    with pytest.raises(DataError, match="class 1 has only 2 member.*use fewer folds"):
        make_splits(table, "stratified", n_splits=5)


def test_a_class_too_rare_for_the_split_is_named_by_its_name_too():
    """The schemes see labels as indices: 'class 7 has only 2 members' left a competitor with named classes
    to count which one that was."""
    from competition.cv import make_units

    table = pd.DataFrame({"label": [0] * 10 + [1] * 2 + [2]})
    names = ("cat", "dog", "ferret")
    with pytest.raises(DataError, match=r"class 2 \('ferret'\) has only 1 member"):
        make_units(Experiment("rare", cv="stratified:2"), table, BUDGETS["smoke"], names)
    with pytest.raises(DataError, match=r"class 2 \('ferret'\) has 1 row\(s\)"):
        make_splits(table, "holdout", class_names=names)


@pytest.mark.parametrize("scheme, groups, message", [
    ("group", np.arange(30) // 10, "GroupKFold split: 5 folds need at least 5 groups .* has 3; use at most 3"),
    ("stratified_group", np.arange(30) // 10, "StratifiedGroupKFold split: 5 folds need at least 5 groups"),
    ("holdout", np.arange(30) // 15, "holdout split \\(a 5-fold group split\\): 5 folds need .* has 2"),
    ("kfold", np.arange(3), "KFold split: 5 folds need at least 5 groups \\(rows"),
])
def test_fewer_groups_than_folds_says_how_many_folds_fit(scheme, groups, message):
    table = pd.DataFrame({"label": np.arange(len(groups)) % 3, "group": groups})
    with pytest.raises(DataError, match=message):
        make_splits(table, scheme, n_splits=5)


@pytest.mark.parametrize("labels, message", [
    (np.repeat(np.arange(100), 3), "holdout of 20% \\(60 of 300 rows\\) cannot hold a row of each of the 100 classes"),
    (np.array([0] * 20 + [1] * 20 + [2]), "class 2 has 1 row\\(s\\); use cv='stratified:<k>'"),
])
def test_a_holdout_that_cannot_stratify_says_which_split_can(labels, message):
    """Few-shot classes (a declared class with one row, or 100 classes of 3) leave no row of some class for a
    stratified 20% holdout: scikit-learn's own error names neither the split nor a way out."""
    with pytest.raises(DataError, match=message):
        make_splits(pd.DataFrame({"label": labels}), "holdout")
    folds = make_splits(pd.DataFrame({"label": np.repeat(np.arange(100), 3)}), "stratified", n_splits=3)
    assert len(folds) == 3


# --- EDA ------------------------------------------------------------------------
def test_eda_writes_plots_and_summary(csv_comp, tmp_path):
    comp = load_competition(csv_comp)
    summary = run_eda(comp, tmp_path / "eda")
    assert summary["class_counts"] == {"0": 8, "1": 8, "2": 8}
    assert summary["imbalance_ratio"] == 1.0 and summary["duplicates_within_train"] == []
    for name in ("class_distribution.png", "samples.png", "summary.md"):
        assert (tmp_path / "eda" / name).stat().st_size > 0


def test_duplicate_detection():
    images = np.zeros((4, 2, 2, 1), np.uint8)
    images[1] = 1
    images[3] = 1
    hashes = image_hashes(images)
    assert duplicates_within(hashes) == [[0, 2], [1, 3]]
    assert duplicates_across(hashes[:2], image_hashes(images[2:])) == [(0, 0), (1, 1)]


def photo_crops(count: int, side: int = 160) -> list[np.ndarray]:
    """Distinct crops of scikit-learn's two sample photos (real texture, where noise would make every pair far)."""
    from sklearn.datasets import load_sample_images
    photos_ = load_sample_images().images
    rng = np.random.default_rng(0)
    crops = []
    for k in range(count):
        photo = photos_[k % 2]
        y, x = rng.integers(0, photo.shape[0] - side), rng.integers(0, photo.shape[1] - side)
        crops.append(photo[y : y + side, x : x + side])
    return crops


def save_jpeg(path: Path, image: np.ndarray, quality: int = 95, scale: float = 1.0) -> None:
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    Image.fromarray(image).resize(size, Image.Resampling.LANCZOS).save(path, quality=quality)


def test_eda_names_one_photo_re_encoded_rescaled_or_brightened_as_near_duplicates(tmp_path):
    """An exact copy is found by its hash; the same photo saved again (rescaled 0.8x at JPEG quality 60, or 10
    levels brighter) has other bytes and is named as a near duplicate, within train (a split could put the
    two on both sides) and across train and eval; twenty distinct crops of the same two photos are not."""
    root, crops = tmp_path / "photos", photo_crops(24)
    rows = []
    for i, crop in enumerate(crops[:20]):
        save_jpeg(root / "train" / "images" / f"p{i:02d}.jpg", crop)
        rows.append({"path": f"images/p{i:02d}.jpg", "label": i % 2})
    save_jpeg(root / "train" / "images" / "rescaled.jpg", crops[3], quality=60, scale=0.8)
    assert crops[9].max() <= 245  # nothing clips
    brighter = crops[9] + np.uint8(10)
    save_jpeg(root / "train" / "images" / "brighter.jpg", brighter)
    rows += [{"path": "images/rescaled.jpg", "label": 1}, {"path": "images/brighter.jpg", "label": 0}]
    pd.DataFrame(rows).to_csv(root / "train" / "train.csv", index=False)
    save_jpeg(root / "eval" / "images" / "e0.jpg", crops[7], quality=70, scale=0.9)  # a train photo, re-saved
    save_jpeg(root / "eval" / "images" / "e1.jpg", crops[21])  # a photo of its own
    pd.DataFrame({"ImageID": ["e0.jpg", "e1.jpg"], "ans": ""}).to_csv(root / "eval" / "info.csv", index=False)

    summary = run_eda(load_competition(root), tmp_path / "eda")
    names = [sorted(Path(p).name for p in pair) for pair in summary["near_duplicates_within_train"]]
    assert names == [["p03.jpg", "rescaled.jpg"], ["brighter.jpg", "p09.jpg"]]
    assert [[Path(p).name for p in pair] for pair in summary["near_duplicates_train_eval"]] == [["e0.jpg", "p07.jpg"]]
    assert summary["duplicates_within_train"] == []
    text = (tmp_path / "eda" / "summary.md").read_text()
    assert "within train: 2 pairs" in text and "give each pair one group" in text


def test_an_exact_copy_is_not_reported_again_as_a_near_duplicate():
    from competition.data.eda import near_duplicates
    crops = photo_crops(6, side=48)
    images = np.stack(crops + [crops[2]])
    hashes = image_hashes(images)
    assert duplicates_within(hashes) == [[2, 6]]
    assert near_duplicates(images, hashes) == []


def test_cli_data_and_eda(tmp_path, capsys):
    from competition.cli import main
    assert main(["data", "digits", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "digits")
    assert main(["eda", "digits", "--data-dir", str(tmp_path), "--out", str(tmp_path / "eda")]) == 0
    assert "imbalance ratio" in capsys.readouterr().out
    assert main(["data", "nope", "--data-dir", str(tmp_path)]) == 1  # a runtime error: exit 1 (usage errors exit 2)
    assert "unknown built-in competition 'nope'" in capsys.readouterr().err


def test_loader_workers_are_seeded_so_augmentation_is_reproducible():
    from competition.augment import create_augmentation
    images = np.random.default_rng(0).integers(0, 256, (16, 12, 12, 1), dtype=np.uint8)

    def epoch(seed):
        ds = CachedDataset(images, np.arange(16), create_augmentation("heavy", (12, 12), seed=0))
        return torch.cat([x for x, _ in make_loader(ds, 4, shuffle=True, seed=seed, num_workers=2)])

    assert torch.equal(epoch(3), epoch(3)) and not torch.equal(epoch(3), epoch(4))


def test_csv_paths_are_relative_to_the_csv_folder_or_image_root(tmp_path, rng):
    root = tmp_path / "mine"
    for i in range(6):
        write_image(root / "train" / "images" / "part0" / f"x{i}.jpg", rng, ext=".jpg")
    pd.DataFrame({"path": [f"images/part0/x{i}.jpg" for i in range(6)], "label": ["cat", "dog"] * 3}).to_csv(
        root / "train" / "train.csv", index=False)
    comp = load_competition(root)  # the README's layout, no settings
    assert comp.train["path"].iat[0].endswith("train/images/part0/x0.jpg")
    pd.DataFrame({"path": [f"part0/x{i}.jpg" for i in range(6)], "label": ["cat", "dog"] * 3}).to_csv(
        root / "train" / "train.csv", index=False)
    with pytest.raises(DataError, match=r"its value is 'part0/x0.jpg', looked for .*train/part0/x0.jpg.*"
                                        r"\"image_root\" in competition.json sets that base"):
        load_competition(root)
    (root / "competition.json").write_text(json.dumps({"image_root": "images"}))
    assert len(load_competition(root).train) == 6
    # paths written from the competition root (Kaggle's 'train/abc.jpg'): no setting could reach them before
    pd.DataFrame({"path": [f"train/images/part0/x{i}.jpg" for i in range(6)], "label": ["cat", "dog"] * 3}).to_csv(
        root / "train" / "train.csv", index=False)
    (root / "competition.json").unlink()
    with pytest.raises(DataError, match=r"and the file is at .*mine/train/images/part0/x0.jpg: set \"image_root\": "
                                        r"\"\.\.\""):
        load_competition(root)
    (root / "competition.json").write_text(json.dumps({"image_root": ".."}))
    assert load_competition(root).train["path"].iat[0].endswith("mine/train/images/part0/x0.jpg")


def test_rgb_photos_stay_rgb_gray_stays_gray_and_the_cache_lives_outside_the_competition(csv_comp, tmp_path):
    from competition.experiment import Budget, Experiment
    from competition.runner import RunContext, plan

    context = RunContext(data_root=tmp_path / "data")
    spec = Experiment("rgb", data=str(csv_comp), epochs=1)
    data = plan(spec, Budget("b"), context, choose_path=False).data
    assert data.images.shape[3] == 3  # csv_comp's images are random colour
    assert not (csv_comp / ".cache").exists() and (tmp_path / "data" / ".cache").is_dir()
    gray = plan(spec.with_(channels=1), Budget("b"), context, choose_path=False).data
    assert gray.images.shape[3] == 1


def test_a_gray_class_listed_first_does_not_turn_the_photos_gray(tmp_path, rng):
    """The colour check read the first 16 images, which a folder layout lists class by class: 20 gray scans in
    the first class made the photos of the others gray, and colour was the cue between them."""
    from competition.experiment import Budget, Experiment
    from competition.runner import RunContext, plan

    for i in range(20):
        write_image(tmp_path / "comp" / "train" / "a_scan" / f"s{i}", rng, channels=1)
    for i in range(4):
        write_image(tmp_path / "comp" / "train" / "b_photo" / f"p{i}", rng, channels=3)
    write_image(tmp_path / "comp" / "eval" / "images" / "e0", rng)
    spec = Experiment("mixed", data=str(tmp_path / "comp"), epochs=1)
    data = plan(spec, Budget("b"), RunContext(data_root=tmp_path / "data"), choose_path=False).data
    assert data.images.shape[3] == 3


def test_eval_images_of_another_size_are_cached_at_trains_size(tmp_path, rng):
    """With no image_size, each split took its own first image's size: a model trained at 24x24 was scored, and
    its submission made, at 48x40. A competition whose splits agree keeps its cache keys (and store entries)."""
    from competition.experiment import Budget, Experiment
    from competition.runner import RunContext, plan

    root, rows = tmp_path / "comp", []
    for i in range(8):
        write_image(root / "train" / "images" / f"t{i}", rng, size=(24, 24))
        rows.append({"path": f"images/t{i}.png", "label": i % 2})
    pd.DataFrame(rows).to_csv(root / "train" / "train.csv", index=False)
    for i, size in enumerate([(48, 40), (24, 24)]):
        write_image(root / "eval" / "images" / f"e{i}", rng, size=size)
    pd.DataFrame({"ImageID": ["e0.png", "e1.png"], "ans": ""}).to_csv(root / "eval" / "info.csv", index=False)
    context = RunContext(data_root=tmp_path / "data")
    data = plan(Experiment("sizes", data=str(root), epochs=1), Budget("b"), context, choose_path=False).data
    assert data.images.shape[1:] == data.eval_images.shape[1:] == (24, 24, 3)
    (root / "eval" / "images" / "e0.png").unlink()
    write_image(root / "eval" / "images" / "e0", rng, size=(24, 24))
    agreed = plan(Experiment("sizes", data=str(root), epochs=1), Budget("b"), context, choose_path=False).data
    spec = cache.Preprocess(channels=3)
    assert agreed.fingerprint.split("-")[1] == cache.cache_key(sorted(map(str, (root / "eval" / "images").iterdir())),
                                                               spec)[:16]


def test_an_experiment_takes_a_competition_as_a_path_or_an_object_and_the_cli_summarises_one(csv_comp, capsys):
    from competition.cli import main
    from competition.experiment import Experiment

    competition = load_competition(csv_comp)
    by_object, by_path = Experiment("mine", data=competition), Experiment("mine", data=csv_comp)
    assert by_object.data == by_path.data == str(csv_comp.resolve())
    assert main(["data", str(csv_comp)]) == 0
    assert "csv format, 24 train rows" in capsys.readouterr().out


def named_competition(root, rng, labels):
    for i in range(len(labels)):
        write_image(root / "train" / "images" / f"{i}.png", rng)
    pd.DataFrame({"path": [f"images/{i}.png" for i in range(len(labels))], "label": labels}).to_csv(
        root / "train" / "train.csv", index=False)
    ids = [f"e{i}.png" for i in range(4)]
    for name in ids:
        write_image(root / "eval" / "images" / name, rng)
    pd.DataFrame({"ImageID": ids, "ans": ""}).to_csv(root / "eval" / "info.csv", index=False)
    return root, ids


def test_a_submission_is_written_in_class_names_and_scored_against_name_answers(tmp_path, rng):
    from competition.experiment import Result
    from competition.scoring import read_answers
    from competition.submission import SubmissionError, validate_submission, write_submission

    root, ids = named_competition(tmp_path / "named", rng, ["cat", "dog", "owl"] * 4)
    pd.DataFrame({"ImageID": ids, "ans": ["owl", "cat", "dog", "cat"]}).to_csv(root / "answers.csv", index=False)
    (root / "competition.json").write_text(json.dumps({"answers": "answers.csv"}))
    comp = load_competition(root)
    assert comp.task.label_space == "name" and comp.task.class_names == ("cat", "dog", "owl")
    assert read_answers(comp).tolist() == [2, 0, 1, 0]
    probs = np.eye(3)[[2, 0, 1, 1]]
    result = Result(name="r", spec={}, budget="b", key="", class_names=list(comp.task.class_names), metric="accuracy",
                    y=np.zeros(1, int), oof_index=np.zeros(1, int), oof_probs=probs[:1], eval_ids=np.array(ids),
                    eval_probs=probs, folds=[], seconds=0.0)
    submission = write_submission(result, comp, tmp_path / "sub.csv")
    assert submission["ans"].tolist() == ["owl", "cat", "dog", "dog"]
    scored = (submission["ans"] == pd.read_csv(root / "answers.csv")["ans"]).mean()
    assert scored == 0.75  # scored against the true names, not 0.0000
    with pytest.raises(SubmissionError, match=r"not a class name of \['cat', 'dog', 'owl'\].*value '2'"):
        validate_submission(submission.assign(ans=["2", "cat", "dog", "dog"]), comp)


def test_a_label_seen_once_without_a_classes_list_is_named_as_a_probable_typo(tmp_path, rng):
    root, _ = named_competition(tmp_path / "typo", rng, ["cat", "dog"] * 4 + ["dgo"])
    with pytest.raises(DataError, match=r"label 'dgo' in only 1 row\(s\) \(10\).*\"classes\": \[\.\.\.\]"):
        load_competition(root)
    (root / "competition.json").write_text(json.dumps({"classes": ["cat", "dog", "dgo"]}))
    assert load_competition(root).task.num_classes == 3


def test_eda_on_a_corrupt_image_names_the_file_and_leaves_no_partial_report(csv_comp, tmp_path):
    from competition.data.eda import run_eda

    (csv_comp / "train" / "images" / "img03.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"img03\.png: corrupt or unreadable image"):
        run_eda(load_competition(csv_comp), tmp_path / "eda", tmp_path / "cache")
    assert not (tmp_path / "eda").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".eda")]


def test_eda_states_empty_classes_and_the_real_imbalance(csv_comp, tmp_path):
    from competition.data.eda import run_eda

    (csv_comp / "competition.json").write_text(json.dumps({"classes": ["0", "1", "2", "unseen"]}))
    summary = run_eda(load_competition(csv_comp), tmp_path / "eda", tmp_path / "cache")
    assert summary["empty_classes"] == ["unseen"] and summary["imbalance_ratio"] == 1.0
    assert "empty classes (no train rows): ['unseen']" in (tmp_path / "eda" / "summary.md").read_text()


# --- large photos -------------------------------------------------------------------------------
def digits_items() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as 28x28 stand-ins for Fashion-MNIST items: photos.py only needs the classes."""
    digits = load_digits()
    items = np.stack([cv2.resize(np.uint8(i * 15), (28, 28), interpolation=cv2.INTER_NEAREST) for i in digits.images])
    return items, digits.target


def test_the_photos_competition_is_made_deterministically_in_the_mask_layout(tmp_path):
    items, labels = digits_items()
    configs = []
    for copy in ("a", "b"):
        builtin.build_atomically(tmp_path / copy, lambda staging: photos.write_photos(
            staging, items, labels, items, labels, train_people=6, eval_people=2))
        configs.append(json.loads((tmp_path / copy / "competition.json").read_text()))
    assert configs[0]["sha256"] == configs[1]["sha256"] == photos.tree_digest(tmp_path / "a")
    comp = load_competition(tmp_path / "a")
    assert comp.format == "mask" and len(comp.train) == 6 * len(MASK_STEMS) and len(comp.eval) == 2 * len(MASK_STEMS)
    assert comp.train.groupby("group").size().eq(len(MASK_STEMS)).all()
    first = cv2.imread(comp.train["path"].iat[0], cv2.IMREAD_UNCHANGED)
    assert first.shape == (photos.HEIGHT, photos.WIDTH, 3) and cache.image_channels(comp.train["path"]) == 3
    answers = scoring.read_answers(comp)
    assert answers is not None and len(answers) == len(comp.eval)


def test_every_gender_and_age_band_wears_its_own_item_class():
    assert sorted(photos.ITEM_CLASS) == [(g, b) for g in ("female", "male") for b in range(3)]
    assert len(set(photos.ITEM_CLASS.values())) == 6
    assert all(age_band(low) == band == age_band(high) for band, (low, high) in photos.AGES.items())


def test_draft_decoding_is_keyed_only_when_on_and_stays_close_to_full_decoding(tmp_path, rng):
    paths = []
    for i in range(3):
        smooth = cv2.GaussianBlur(rng.integers(0, 256, (512, 384, 3), dtype=np.uint8), (31, 31), 0)
        paths.append(str(tmp_path / f"p{i}.jpg"))
        cv2.imwrite(paths[-1], smooth)
    full, draft = Preprocess(size=(128, 96)), Preprocess(size=(128, 96), draft=True)
    assert "draft" not in full.key_fields()  # the keys of every earlier cache and baseline stand
    assert cache.cache_key(paths, full) != cache.cache_key(paths, draft)
    a = cached_images(paths, full, tmp_path / "c").astype(float)
    b = cached_images(paths, draft, tmp_path / "c").astype(float)
    assert a.shape == b.shape == (3, 128, 96, 3) and np.abs(a - b).mean() < 2
    png = write_image(tmp_path / "g.png", rng, size=(64, 48))
    box = Preprocess(size=(16, 12), draft=True)
    assert np.array_equal(cache.preprocess_image(png, box), cache.preprocess_image(png, Preprocess(size=(16, 12))))


def test_the_cache_is_the_same_built_with_one_thread_or_many(csv_comp, tmp_path):
    paths = sorted((csv_comp / "train" / "images").glob("*.png"))
    one = cached_images(paths, Preprocess(size=(8, 6)), tmp_path / "one", workers=1, progress=False)
    many = cached_images(paths, Preprocess(size=(8, 6)), tmp_path / "many", workers=4, progress=False)
    assert np.array_equal(one, many)


def test_an_experiment_takes_height_and_width_and_keeps_them_through_json(csv_comp, tmp_path):
    spec = Experiment("hw", data=csv_comp, image_size=(12, 8))
    assert Experiment.from_dict("hw", json.loads(json.dumps(spec.to_dict()))) == spec
    for bad in ((12,), (12, 4), (12, 8.0), "12"):
        with pytest.raises(ConfigError, match="image_size"):
            Experiment("hw", data=csv_comp, image_size=bad)
    data = prepare_data(spec, BUDGETS["smoke"], load_competition(csv_comp), tmp_path / "cache")
    assert data.images.shape[1:3] == (12, 8)


def test_validation_rows_in_the_set_the_loop_trains_on_are_stopped():
    from competition.data.dataset import check_training_rows

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 6, 6, 1), dtype=np.uint8)
    labels = np.arange(20) % 2
    val = CachedDataset(images[15:], labels[15:], rows=np.arange(15, 20))
    check_training_rows(CachedDataset(images[:15], labels[:15], rows=np.arange(15)), val)  # disjoint: fine
    with pytest.raises(LeakageError, match="2 validation row\\(s\\) are in the training set"):
        check_training_rows(CachedDataset(images[:17], labels[:17], rows=np.arange(17)), val)
    rebuilt = CachedDataset(np.concatenate([images[:15], images[18:]]), np.concatenate([labels[:15], labels[18:]]))
    with pytest.raises(LeakageError, match="2 of 5 validation images are in the training set.*\\[18, 19\\]"):
        check_training_rows(rebuilt, val)
