"""One's own competition as it comes: a validated competition.json, labels as written, real-world layouts
and files, incomplete data. Each test is a finding of issue 21 that failed on the code before it."""
from __future__ import annotations

import hashlib
import json
import re
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from competition.cli import main as cli
from competition.data import load_competition
from competition.data import cache
from competition.data.cache import Preprocess, cached_images, decode_image
from competition.data.formats import MASK_STEMS
from competition.data.eda import run_eda
from competition.errors import DataError
from competition.submission import SubmissionError, make_submission

from conftest import write_image


def competition(root: Path, labels, groups=None, config: dict | None = None, eval_ids=("e0.png", "e1.png"),
                rng=None) -> Path:
    """A csv competition with one distinct image per row."""
    rng = rng or np.random.default_rng(0)
    rows = []
    for i, label in enumerate(labels):
        write_image(root / "train" / "images" / f"t{i:03d}.png", rng)
        rows.append({"path": f"images/t{i:03d}.png", "label": label, **({"group": groups[i]} if groups else {})})
    pd.DataFrame(rows).to_csv(root / "train" / "train.csv", index=False)
    for name in eval_ids:
        write_image(root / "eval" / "images" / name, rng)
    pd.DataFrame({"ImageID": list(eval_ids), "ans": ""}).to_csv(root / "eval" / "info.csv", index=False)
    if config is not None:
        (root / "competition.json").write_text(json.dumps(config))
    return root


# --- competition.json -----------------------------------------------------------------------------
@pytest.mark.parametrize("key, value, named", [
    ("group_col", "patient", "did you mean 'group_column'"),
    ("lable_column", "label", "did you mean 'label_column'"),
    ("metirc", "accuracy", "did you mean 'metric'"),
])
def test_a_misspelt_key_is_an_error_naming_the_closest_known_key(tmp_path, key, value, named):
    root = competition(tmp_path / "c", [0, 1] * 4, config={key: value})
    with pytest.raises(DataError, match=f"competition.json: unknown key '{key}'; {named}"):
        load_competition(root)


def test_a_group_column_that_differs_in_case_names_the_real_one(tmp_path):
    root = competition(tmp_path / "c", [0, 1] * 4, config={"group_column": "Patient"})
    df = pd.read_csv(root / "train" / "train.csv").assign(patient=[f"p{i // 2}" for i in range(8)])
    df.to_csv(root / "train" / "train.csv", index=False)
    with pytest.raises(DataError, match="missing required column.*'Patient' is written 'patient' in the file"):
        load_competition(root)


@pytest.mark.parametrize("config, message", [
    ({"allow_outside_links": "false"}, "key 'allow_outside_links' = 'false' \\(str\\)"),
    ({"min_class_rows": "2"}, "key 'min_class_rows' = '2' \\(str\\)"),
    ({"metric": "f1"}, "unknown metric 'f1'.*Known metrics"),
    ({"answers": "/etc/hostname"}, "absolute or climbs out"),
    ({"image_root": "../../elsewhere"}, "absolute or climbs out of the competition"),
    ({"image_root": "images/../../.."}, "absolute or climbs out of the competition"),
    ({"format": "imagefolder"}, "key 'format'"),
    ({"classes": ["a", "a", "b"]}, "distinct"),
])
def test_a_wrong_type_or_value_is_an_error_naming_the_key(tmp_path, config, message):
    root = competition(tmp_path / "c", [0, 1] * 4, config=config)
    with pytest.raises(DataError, match=message):
        load_competition(root)


def test_an_answers_file_that_does_not_exist_is_named(tmp_path):
    root = competition(tmp_path / "c", [0, 1] * 4, config={"answers": "answerz.csv"})
    with pytest.raises(DataError, match="\"answers\" names 'answerz.csv'.*does not exist"):
        load_competition(root)


@pytest.mark.parametrize("text, message", [
    ("", "the file is empty"), ("[1, 2]", "expected a JSON object"), ("{'a': 1}", "not valid JSON \\(line 1"),
])
def test_a_competition_json_that_is_not_an_object_names_the_file(tmp_path, text, message):
    root = competition(tmp_path / "c", [0, 1] * 4)
    (root / "competition.json").write_text(text)
    with pytest.raises(DataError, match=f"competition.json: {message}"):
        load_competition(root)


# --- labels as written -----------------------------------------------------------------------------
@pytest.mark.parametrize("values, classes, space", [
    ([1, 2, 3], ("1", "2", "3"), "name"),
    ([0, 1, 9], ("0", "1", "9"), "name"),
    ([0, 1, 2], ("0", "1", "2"), "index"),
    (["0.0", "1.0", "2.0"], ("0", "1", "2"), "index"),
])
def test_whole_number_labels_keep_their_values_and_make_no_empty_class(tmp_path, values, classes, space):
    labels = [values[i % 3] for i in range(12)]
    root = competition(tmp_path / "c", labels)
    comp = load_competition(root)
    assert comp.task.class_names == classes and comp.task.label_space == space and comp.empty_classes == []
    assert [comp.task.class_names[i] for i in comp.train["label"]] == [str(int(float(v))) for v in labels]


@pytest.mark.parametrize("values, declared, classes", [
    (["01", "02", "10"], None, ("01", "02", "10")),
    (["00", "01", "02"], None, ("00", "01", "02")),
    (["+1", "-1", "+2"], None, ("-1", "+1", "+2")),
    (["01", "02", "03"], ["01", "02", "03", "04"], ("01", "02", "03", "04")),
    (["1", "2", "3"], ["01", "1", "2", "3"], ("01", "1", "2", "3")),
], ids=["leading-zeros", "zero-padded-from-0", "signed", "declared-zeros", "declared-mixed"])
def test_labels_written_with_leading_zeros_or_signs_keep_their_spelling(tmp_path, values, declared, classes):
    """'01' became class '1', so the submission answered '1' where the competition reads '01'; with '01'..'04'
    declared, label '01' was read as index 1: every row trained as the next class, without a word."""
    labels = [values[i % 3] for i in range(12)]
    root = competition(tmp_path / "c", labels, config=None if declared is None else {"classes": declared})
    comp = load_competition(root)
    assert comp.task.class_names == classes and comp.task.label_space == "name"
    assert [comp.task.class_names[i] for i in comp.train["label"]] == labels

    class FirstTwo:  # what make_submission reads of a Result
        name, eval_ids = "first-two", np.array(["e0.png", "e1.png"])
        eval_probs = np.eye(len(classes))[[classes.index(values[0]), classes.index(values[1])]]

    assert make_submission(FirstTwo(), comp)["ans"].tolist() == values[:2]


def test_a_submission_carries_the_users_own_label_values(tmp_path):
    root = competition(tmp_path / "c", [[1, 5, 9][i % 3] for i in range(12)])
    comp = load_competition(root)

    class Perfect:  # what make_submission reads of a Result
        name, eval_ids = "perfect", np.array(["e0.png", "e1.png"])
        eval_probs = np.eye(3)[[2, 0]]

    submission = make_submission(Perfect(), comp)
    assert submission["ans"].tolist() == ["9", "1"]


class Predicted:
    """What make_submission reads of a Result: eval ids and their probabilities."""

    def __init__(self, ids, probs):
        self.name, self.eval_ids, self.eval_probs = "mine", np.array(ids), np.array(probs, dtype=np.float32)


def test_a_bad_submission_names_the_template_competition_json_names(tmp_path):
    """It said "one per id of eval/info.csv" of a competition whose template is eval/sample_submission.csv."""
    from competition.submission import validate_submission
    root = competition(tmp_path / "c", ["a", "b"] * 4, config={"eval_csv": "eval/sample_submission.csv"})
    (root / "eval" / "info.csv").rename(root / "eval" / "sample_submission.csv")
    comp = load_competition(root)
    short = comp.eval_template().iloc[:1].assign(ans="a")
    with pytest.raises(SubmissionError, match="1 missing id.*one per id of eval/sample_submission.csv"):
        validate_submission(short, comp)


@pytest.mark.parametrize("metric", ["roc_auc", "log_loss"])
def test_a_two_class_competition_scored_on_probabilities_is_answered_with_them(tmp_path, capsys, metric):
    """Its submissions held labels, though ROC-AUC and log loss read probabilities: a grader scored 0/1 answers
    (an AUC of hard labels, or a log loss of confident mistakes) far below what the harness reported."""
    from competition.submission import diff_submissions, validate_submission
    root = competition(tmp_path / "c", ["benign", "malignant"] * 6, config={"metric": metric},
                       eval_ids=("e0.png", "e1.png", "e2.png"))
    comp = load_competition(root)
    assert comp.submission_form == "probability"
    submission = make_submission(Predicted(["e0.png", "e1.png", "e2.png"], [[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]]),
                                 comp)
    assert np.allclose(submission["ans"].astype(float), [0.1, 0.7, 0.4])
    out = tmp_path / "sub.csv"
    submission.to_csv(out, index=False)
    validate_submission(out, comp)
    submission["ans"] = submission["ans"].astype(object)
    for bad in ("malignant", "1.5", "nan"):
        submission.loc[1, "ans"] = bad
        with pytest.raises(SubmissionError, match=r"1 value\(s\) of ans not a probability in \[0, 1\], first at row 3"):
            validate_submission(submission, comp)
    from competition.submission import submitted_classes
    tie = make_submission(Predicted(["e0.png", "e1.png", "e2.png"], [[0.5, 0.5], [0.3, 0.7], [0.6, 0.4]]), comp)
    assert submitted_classes(tie, comp).tolist() == [0, 1, 0]  # a tie is the first class, as the argmax takes it
    previous = make_submission(Predicted(["e2.png", "e1.png", "e0.png"], [[0.2, 0.8], [0.1, 0.9], [0.8, 0.2]]), comp)
    assert diff_submissions(make_submission(Predicted(["e0.png", "e1.png", "e2.png"],
                                                      [[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]]), comp),
                            previous, comp)["agreement"] == pytest.approx(2 / 3)
    assert cli(["data", str(root)]) == 0
    assert "submissions answer with the probability of class 'malignant' in column 'ans'" in capsys.readouterr().out
    (root / "competition.json").write_text(json.dumps({"metric": metric, "submission": "labels"}))
    comp = load_competition(root)
    assert make_submission(Predicted(["e0.png", "e1.png", "e2.png"], [[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]]),
                           comp)["ans"].tolist() == ["benign", "malignant", "benign"]
    (root / "competition.json").write_text(json.dumps({"metric": "macro_f1"}))
    assert load_competition(root).submission_form == "labels"  # F1 reads labels


def test_data_says_when_a_metric_reads_probabilities_that_the_template_cannot_hold(tmp_path, capsys):
    root = competition(tmp_path / "c", ["a", "b", "c"] * 4, config={"metric": "log_loss"})
    assert cli(["data", str(root)]) == 0
    assert "labels in column 'ans', though the metric log_loss reads probabilities" in capsys.readouterr().out


def test_a_template_with_a_column_per_class_is_answered_in_those_columns(tmp_path):
    """Plant Pathology's sample submission (image_id, healthy, rust, scab): an `ans` column was added beside the
    class columns and filled with labels, the class columns left as the template had them, and it validated."""
    from competition.submission import distribution_shift
    root = competition(tmp_path / "c", ["healthy", "rust", "scab"] * 4)
    pd.DataFrame({"ImageID": ["e0.png", "e1.png"], "healthy": 0, "rust": 0, "scab": 0}).to_csv(
        root / "eval" / "info.csv", index=False)
    comp = load_competition(root)
    assert comp.submission_form == "class_columns" and "ans" not in comp.eval_template().columns
    submission = make_submission(Predicted(["e0.png", "e1.png"], [[0.1, 0.2, 0.7], [0.5, 0.3, 0.2]]), comp)
    assert list(submission.columns) == ["ImageID", "healthy", "rust", "scab"]
    assert np.allclose(submission[["healthy", "rust", "scab"]].to_numpy(float), [[0.1, 0.2, 0.7], [0.5, 0.3, 0.2]])
    shift, predicted, _ = distribution_shift(submission, comp)
    assert predicted.tolist() == [0.5, 0.0, 0.5]


@pytest.mark.parametrize("config, message", [
    ({"submission": "probability"}, "which needs two classes, and the task has 3"),
    ({"submission": "class_columns"}, r"eval/info.csv has no column for \['a', 'b', 'c'\]"),
])
def test_a_submission_form_that_does_not_fit_the_task_is_named(tmp_path, config, message):
    root = competition(tmp_path / "c", ["a", "b", "c"] * 4, config=config)
    with pytest.raises(DataError, match=f'competition.json: "submission": .*{message}'):
        load_competition(root)


@pytest.mark.parametrize("spellings, message", [
    (["cat", "Cat"], "writes one label in 2 ways \\('Cat' in row\\(s\\) 3.*'cat' in row\\(s\\) 2"),
    (["cat", "cat "], "writes one label in 2 ways"),
    (["1", "1.0"], "writes one label in 2 ways"),
    (["cat", ""], "empty or null \\(''\\) in row\\(s\\) 3"),
    (["cat", "nan"], "empty or null \\('nan'\\)"),
])
def test_one_label_written_two_ways_or_empty_is_an_error_with_its_rows(tmp_path, spellings, message):
    labels = [spellings[i % 2] for i in range(8)] + ["dog"] * 4
    root = competition(tmp_path / "c", labels)
    with pytest.raises(DataError, match=message):
        load_competition(root)


@pytest.mark.parametrize("labels, shown", [
    (["0", "1", "0 1", "2", "1,2"] * 2, "'0 1'"),
    (["cat", "dog", "cat|dog"] * 3, "'cat|dog'"),
    (["1 2", "3 4"] * 4, "'1 2'"),
])
def test_labels_that_list_labels_are_refused_as_multi_label(tmp_path, labels, shown):
    root = competition(tmp_path / "c", labels)
    with pytest.raises(DataError, match=f"has label {shown} in row\\(s\\) .*multi-label task"):
        load_competition(root)


def test_spaced_class_names_and_declared_combinations_are_single_labels(tmp_path):
    spaced = load_competition(competition(tmp_path / "a", ["T-shirt top", "Ankle boot", "Bag"] * 3))
    assert spaced.task.class_names == ("Ankle boot", "Bag", "T-shirt top")
    declared = competition(tmp_path / "b", ["0", "1", "0 1"] * 3, config={"classes": ["0", "1", "0 1"]})
    assert load_competition(declared).task.class_names == ("0", "1", "0 1")


def test_one_class_is_an_error_naming_the_label_column(tmp_path, rng):
    root = competition(tmp_path / "c", [3] * 8)
    with pytest.raises(DataError, match="train has one class \\('3'\\) in column 'label'.*at least two"):
        load_competition(root)
    folder = tmp_path / "folder"
    for i in range(3):
        write_image(folder / "train" / "cat" / f"{i}.png", rng)
    write_image(folder / "eval" / "x.png", rng)
    with pytest.raises(DataError, match="one class \\('cat'\\) in its class folders"):
        load_competition(folder)


def test_unzip_artefacts_are_no_class_and_an_empty_class_folder_is_refused(tmp_path, rng):
    root = tmp_path / "folder"
    for name in ("cat", "dog"):
        for i in range(3):
            write_image(root / "train" / name / f"{i}.png", rng)
    write_image(root / "eval" / "x.png", rng)
    (root / "train" / "__MACOSX" / "cat").mkdir(parents=True)
    (root / "train" / "__MACOSX" / "cat" / "._0.png").write_bytes(b"\x00\x05\x16\x07 resource fork")
    (root / "train" / ".ipynb_checkpoints").mkdir()
    (root / "train" / "cat" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / "eval" / "Thumbs.db").write_bytes(b"\xd0\xcf")
    comp = load_competition(root)
    assert comp.task.class_names == ("cat", "dog") and len(comp.train) == 6 and len(comp.eval) == 1
    (root / "train" / "fox").mkdir()
    with pytest.raises(DataError, match="class folder\\(s\\) \\['fox'\\] hold no image files"):
        load_competition(root)
    (root / "competition.json").write_text(json.dumps({"classes": ["cat", "dog", "fox"]}))
    assert load_competition(root).empty_classes == ["fox"]


def save_as(path: Path, rng, format: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, size=(12, 10, 3), dtype=np.uint8)).save(path, format=format)
    return path


def test_images_under_any_extension_are_found_and_one_no_decoder_reads_is_named(tmp_path, rng, capsys):
    """The folder layouts listed images by eight extensions, so a JPEG saved as .jfif (a browser on Windows),
    a netpbm, AVIF or extension-less file was left out: 100 of 300 train images trained and 34 of 100 eval ids
    were submitted, and `data` said "valid". A phone's HEIC photo was left out the same way."""
    root = tmp_path / "folder"
    for name in ("cat", "dog"):
        save_as(root / "train" / name / "a.png", rng, "PNG")
        save_as(root / "train" / name / "b.jfif", rng, "JPEG")
        save_as(root / "train" / name / "c.ppm", rng, "PPM")
        save_as(root / "train" / name / "d.avif", rng, "AVIF")
        save_as(root / "train" / name / "e", rng, "PNG")  # no extension: found by its content
        (root / "train" / name / "notes.txt").write_text("collected 2026-11-30\n")  # no image: passed over
    save_as(root / "eval" / "x.jfif", rng, "JPEG")
    save_as(root / "eval" / "y.pgm", rng, "PPM")
    comp = load_competition(root)
    assert len(comp.train) == 10 and sorted(comp.eval["image_id"]) == ["x.jfif", "y.pgm"]
    assert cached_images(comp.train["path"].tolist(), Preprocess(None, channels=3), tmp_path / "cache").shape[0] == 10
    (root / "train" / "cat" / "copy").write_bytes((root / "train" / "cat" / "a.png").read_bytes())
    with pytest.raises(DataError, match="listed under 2 ids: cat/a.png, cat/copy;"):  # the files, no rows
        load_competition(root)
    (root / "train" / "cat" / "copy").unlink()

    (root / "train" / "dog" / "IMG_0001.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(64))
    with pytest.raises(DataError, match="dog: 1 image file\\(s\\) in a format the decoders cannot read "
                                        "\\(IMG_0001.HEIC\\).*Convert them to PNG or JPEG"):
        load_competition(root)
    assert cli(["data", str(root)]) == 1
    assert "IMG_0001.HEIC" in capsys.readouterr().err


def test_a_mask_image_no_decoder_reads_is_named_not_missing(mask_comp):
    folder = next(p for p in sorted((mask_comp / "train" / "images").iterdir()))
    next(folder.glob("normal.*")).unlink()
    (folder / "normal.heic").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(64))
    with pytest.raises(DataError, match="cannot read \\(normal.heic\\)"):
        load_competition(mask_comp)
    (folder / "normal.heic").unlink()
    save_as(folder / "normal.jfif", np.random.default_rng(1), "JPEG")
    assert len(load_competition(mask_comp).train) == 6 * 7


def test_an_image_folder_eval_split_is_scored_by_its_class_folders(tmp_path, rng, capsys):
    """eval/<class>/<image>, torchvision's val/ layout: the folder names went unread, so the eval split was
    predicted and never scored, and `data` did not say so."""
    from competition.scoring import read_answers
    root = tmp_path / "folder"
    for split, count in (("train", 3), ("eval", 2)):
        for name in ("cat", "dog"):
            for i in range(count):
                write_image(root / split / name / f"{split}{i}.png", rng)
    comp = load_competition(root)
    assert comp.has_answers() and list(read_answers(comp)) == [0, 0, 1, 1]
    assert list(comp.eval["image_id"]) == ["cat/eval0.png", "cat/eval1.png", "dog/eval0.png", "dog/eval1.png"]
    assert cli(["data", str(root)]) == 0
    assert "eval answers: the class folders of eval/" in capsys.readouterr().out
    write_image(root / "eval" / "loose.png", rng)  # one image outside a class folder: no answers to read
    comp = load_competition(root)
    assert not comp.has_answers() and comp.folder_answers() is None
    assert cli(["data", str(root)]) == 0
    assert "eval answers: none: eval rows are predicted, never scored" in capsys.readouterr().out


def test_a_declared_class_with_no_rows_is_shown_by_data_and_eda(tmp_path, capsys):
    root = competition(tmp_path / "c", ["cat", "dog"] * 4, config={"classes": ["cat", "dog", "fox"]})
    comp = load_competition(root)
    assert comp.empty_classes == ["fox"]
    assert cli(["data", str(root)]) == 0
    assert "empty classes (declared, no train rows): ['fox']" in capsys.readouterr().out
    summary = run_eda(comp, tmp_path / "eda", tmp_path / "cache")
    assert summary["empty_classes"] == ["fox"]


def test_an_eval_image_that_is_a_train_image_is_named_by_data(tmp_path, capsys):
    """Its eval score is not held out (a model trained on it); `data` said the competition was valid and
    nothing more."""
    root = competition(tmp_path / "c", ["cat", "dog"] * 4)
    (root / "eval" / "images" / "e1.png").write_bytes((root / "train" / "images" / "t003.png").read_bytes())
    assert cli(["data", str(root)]) == 0
    assert ("1 eval image(s) have the same bytes as a train image (eval e1.png = train images/t003.png): a model "
            "trains on them") in capsys.readouterr().out


# --- one image, one row -------------------------------------------------------------------------------
def test_the_same_image_under_two_ids_is_an_error_naming_both_rows(tmp_path):
    root = competition(tmp_path / "c", [0, 1] * 4)
    (root / "train" / "images" / "t005.png").write_bytes((root / "train" / "images" / "t002.png").read_bytes())
    with pytest.raises(DataError, match="same image \\(identical bytes\\) is listed under 2 ids: row 4 .*row 7"):
        load_competition(root)


def test_copies_of_one_image_within_one_group_are_kept_together(tmp_path):
    root = competition(tmp_path / "c", [0, 1] * 4, groups=["a", "b", "c", "c", "d", "e", "f", "g"])
    (root / "train" / "images" / "t003.png").write_bytes((root / "train" / "images" / "t002.png").read_bytes())
    assert len(load_competition(root).train) == 8


def test_a_path_listed_twice_with_two_labels_is_an_error(tmp_path):
    root = competition(tmp_path / "c", [0, 1] * 4)
    df = pd.read_csv(root / "train" / "train.csv")
    df.loc[5, "path"] = df.loc[2, "path"]
    df.to_csv(root / "train" / "train.csv", index=False)
    with pytest.raises(DataError, match="is listed 2 times \\(with 2 different labels\\), rows 4, 7"):
        load_competition(root)


def test_empty_group_values_are_an_error_not_one_group(tmp_path):
    root = competition(tmp_path / "c", [0, 1] * 4, groups=["a", "", "b", "", "c", "d", "e", "f"])
    with pytest.raises(DataError, match="column 'group' \\(the groups\\) is empty in row\\(s\\) 3, 5"):
        load_competition(root)


# --- layouts ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("under_images", [False, True])
def test_imagefolder_layouts_with_spaced_class_names_and_an_eval_folder_alone(tmp_path, rng, under_images):
    root = tmp_path / "folder"
    base = root / "train" / ("images" if under_images else "")
    for name in ("Ankle boot", "T-shirt top"):
        for i in range(3):
            write_image(base / name / f"{i}.png", rng)
    for i in range(2):
        write_image(root / "eval" / f"x{i}.png", rng)
    comp = load_competition(root)
    assert comp.format == "folder" and comp.task.class_names == ("Ankle boot", "T-shirt top")
    assert comp.eval["image_id"].tolist() == ["x0.png", "x1.png"]
    assert comp.eval_template().columns.tolist() == ["ImageID", "ans"]


def kaggle_download(root: Path, rng, shape: str) -> Path:
    """A competition as `kaggle competitions download` unpacks it, in the shapes of four real ones."""
    if shape == "dog-breed":  # ids without extensions; the template has a column per class
        breeds = ["affenpinscher", "beagle", "collie"]
        root.mkdir(parents=True)
        pd.DataFrame({"id": [f"d{i}" for i in range(9)], "breed": breeds * 3}).to_csv(root / "labels.csv", index=False)
        for i in range(9):
            write_image(root / "train" / f"d{i}.jpg", rng, ext=".jpg")
        pd.DataFrame({"id": ["t0", "t1"], **{b: 1 / 3 for b in breeds}}).to_csv(root / "sample_submission.csv",
                                                                               index=False)
        for name in ("t0", "t1"):
            write_image(root / "test" / f"{name}.jpg", rng, ext=".jpg")
    elif shape == "cassava":  # train_images/ beside a folder of TFRecords and a JSON of class names
        root.mkdir(parents=True)
        pd.DataFrame({"image_id": [f"{i}.jpg" for i in range(8)], "label": [i % 4 for i in range(8)]}).to_csv(
            root / "train.csv", index=False)
        for i in range(8):
            write_image(root / "train_images" / f"{i}.jpg", rng, ext=".jpg")
        (root / "train_tfrecords").mkdir()
        (root / "train_tfrecords" / "ld_train00-1338.tfrec").write_bytes(bytes(64))
        (root / "label_num_to_disease_map.json").write_text('{"0": "CBB"}')
        pd.DataFrame({"image_id": ["2216849948.jpg"], "label": [4]}).to_csv(root / "sample_submission.csv", index=False)
        write_image(root / "test_images" / "2216849948.jpg", rng, ext=".jpg")
    elif shape == "seedlings":  # class folders; the test images and a template beside them
        for name in ("Black-grass", "Charlock"):
            for i in range(3):
                write_image(root / "train" / name / f"{name[:2]}{i}.png", rng)
        for name in ("s0.png", "s1.png"):
            write_image(root / "test" / name, rng)
        pd.DataFrame({"file": ["s0.png", "s1.png"], "species": "Charlock"}).to_csv(root / "sample_submission.csv",
                                                                                  index=False)
    elif shape == "plant-pathology":  # images/ holds train and test alike; the labels one-hot, as the template
        classes = ["healthy", "multiple_diseases", "rust", "scab"]
        root.mkdir(parents=True)
        one_hot = np.eye(4, dtype=int)[[0, 1, 2, 3, 0, 1, 2, 3]]
        pd.DataFrame({"image_id": [f"Train_{i}" for i in range(8)], **dict(zip(classes, one_hot.T))}).to_csv(
            root / "train.csv", index=False)
        for name in [f"Train_{i}" for i in range(8)] + ["Test_0"]:
            write_image(root / "images" / f"{name}.jpg", rng, ext=".jpg")
        pd.DataFrame({"image_id": ["Test_0"]}).to_csv(root / "test.csv", index=False)
        pd.DataFrame({"image_id": ["Test_0"], **{c: 0.25 for c in classes}}).to_csv(root / "sample_submission.csv",
                                                                                   index=False)
    else:  # siim-isic: jpeg/train/ and jpeg/test/, many columns, a test.csv of metadata
        names = [f"ISIC_{i:07d}" for i in range(6)]
        root.mkdir(parents=True)
        pd.DataFrame({"image_name": names, "patient_id": ["IP_1", "IP_1", "IP_2", "IP_2", "IP_3", "IP_3"],
                      "sex": "male", "target": [0, 1] * 3}).to_csv(root / "train.csv", index=False)
        for name in names:
            write_image(root / "jpeg" / "train" / f"{name}.jpg", rng, ext=".jpg")
        pd.DataFrame({"image_name": ["ISIC_9000000"], "patient_id": ["IP_9"]}).to_csv(root / "test.csv", index=False)
        pd.DataFrame({"image_name": ["ISIC_9000000"], "target": 0}).to_csv(root / "sample_submission.csv",
                                                                           index=False)
        write_image(root / "jpeg" / "test" / "ISIC_9000000.jpg", rng, ext=".jpg")
    return root


@pytest.mark.parametrize("shape, keys, rows, classes", [
    ("dog-breed", {"train_csv": "labels.csv", "path_column": "id", "label_column": "breed", "image_root": "train",
                   "eval_csv": "sample_submission.csv", "id_column": "id", "eval_images": "test"},
     (9, 2), ("affenpinscher", "beagle", "collie")),
    ("cassava", {"train_csv": "train.csv", "path_column": "image_id", "label_column": "label",
                 "image_root": "train_images", "eval_csv": "sample_submission.csv", "id_column": "image_id",
                 "answer_column": "label", "eval_images": "test_images"}, (8, 1), ("0", "1", "2", "3")),
    ("seedlings", {"eval_csv": "sample_submission.csv", "id_column": "file", "answer_column": "species",
                   "eval_images": "test"}, (6, 2), ("Black-grass", "Charlock")),
    ("plant-pathology", {"train_csv": "train.csv", "path_column": "image_id",
                         "label_columns": ["healthy", "multiple_diseases", "rust", "scab"], "image_root": "images",
                         "eval_csv": "sample_submission.csv", "id_column": "image_id", "eval_images": "images"},
     (8, 1), ("healthy", "multiple_diseases", "rust", "scab")),
    ("siim-isic", {"train_csv": "train.csv", "path_column": "image_name", "label_column": "target",
                   "image_root": "jpeg/train", "eval_csv": "sample_submission.csv", "id_column": "image_name",
                   "answer_column": "target", "eval_images": "jpeg/test"}, (6, 1), ("0", "1")),
])
def test_a_kaggle_download_is_read_as_it_unpacks(tmp_path, rng, capsys, shape, keys, rows, classes):
    """The labels table and sample_submission.csv at the root, the images in train/ and test/ (or
    train_images/, jpeg/train/): "not a competition directory" until the user moved every file, which a
    read-only /kaggle/input does not allow. The keys that read it are inferred and printed by `data`."""
    root = kaggle_download(tmp_path / shape, rng, shape)
    comp = load_competition(root)
    assert comp.inferred == keys and (len(comp.train), len(comp.eval)) == rows and comp.task.class_names == classes
    assert {root / "sample_submission.csv"} | ({root / keys["train_csv"]} if "train_csv" in keys else set()) <= (
        comp.input_files())  # what `submit --out` must never replace
    assert cli(["data", str(root)]) == 0
    assert f'read as a Kaggle download: "eval_csv": "sample_submission.csv", "id_column": "{keys["id_column"]}"' in (
        capsys.readouterr().out)


def test_competition_json_overrides_a_kaggle_layout_and_an_unclear_label_column_is_asked_for(tmp_path, rng, capsys):
    root = kaggle_download(tmp_path / "siim", rng, "siim-isic")
    assert cli(["data", str(root)]) == 0  # a patient column, unused: said, since one patient would cross a split
    assert ("column 'patient_id' repeats its values (2.0 rows per value) and no groups are set: if each value is one "
            'subject, set "group_column": "patient_id"') in capsys.readouterr().out
    pd.read_csv(root / "sample_submission.csv").assign(extra=1).to_csv(root / "sample_submission.csv", index=False)
    with pytest.raises(DataError, match=r"train.csv: read as a Kaggle download .*which of its columns "
                                        r"\['patient_id', 'sex', 'target'\] holds the labels"):
        load_competition(root)
    (root / "competition.json").write_text(json.dumps({"label_column": "target", "group_column": "patient_id",
                                                       "answer_column": "target"}))
    comp = load_competition(root)
    assert "label_column" not in comp.inferred and comp.train["group"].nunique() == 3
    assert cli(["data", str(root)]) == 0 and "no groups are set" not in capsys.readouterr().out
    assert list(comp.eval_template().columns) == ["image_name", "target", "extra"]
    pd.read_csv(root / "train.csv").assign(fold=0).to_csv(root / "train_folds.csv", index=False)  # a second table
    with pytest.raises(DataError, match=r"which table holds the labels: \['train.csv', 'train_folds.csv'\]"):
        load_competition(root)
    (root / "competition.json").write_text(json.dumps({"train_csv": "train_folds.csv", "label_column": "target",
                                                       "answer_column": "target"}))
    comp = load_competition(root)  # the one key named, the others read around it
    assert comp.inferred["eval_images"] == "jpeg/test" and comp.inferred["image_root"] == "jpeg/train"
    assert "fold" in comp.train.columns and len(comp.train) == 6


def test_one_hot_labels_are_read_in_their_columns_order_and_a_row_of_several_is_named(tmp_path, rng):
    """Plant Pathology 2020's table marks each row's class in a column per class; it could not be read at all."""
    root = kaggle_download(tmp_path / "plants", rng, "plant-pathology")
    comp = load_competition(root)
    assert comp.train["label"].tolist() == [0, 1, 2, 3] * 2 and comp.submission_form == "class_columns"
    table = pd.read_csv(root / "train.csv")
    for cells, message in [({"rust": 1}, r"row 2 marks 2 classes \(a multi-label task"),
                           ({"healthy": 0}, "row 2 marks no class in the one-hot label columns"),
                           ({"healthy": 2}, r"row 2 has .* in the one-hot label columns; each cell must be 0 or 1")]:
        table.assign(**{c: [v] + table[c].tolist()[1:] for c, v in cells.items()}).to_csv(root / "train.csv",
                                                                                       index=False)
        with pytest.raises(DataError, match=message):
            load_competition(root)


def test_the_tables_and_eval_folder_can_be_named(tmp_path, rng):
    """A layout of one's own: "train_csv", "eval_csv" and "eval_images", from the root; image_root is read from
    the labels table's folder, and a named file that is not there is an error naming it."""
    root = tmp_path / "own"
    for i in range(4):
        write_image(root / "data" / "pics" / f"{i}.png", rng)
    write_image(root / "holdout" / "h.png", rng)
    (root / "meta").mkdir()
    pd.DataFrame({"file": [f"{i}.png" for i in range(4)], "y": [0, 1] * 2}).to_csv(root / "data" / "y.csv",
                                                                                  index=False)
    pd.DataFrame({"ImageID": ["h.png"], "ans": ""}).to_csv(root / "meta" / "ids.csv", index=False)
    config = {"train_csv": "data/y.csv", "image_root": "pics", "path_column": "file", "label_column": "y",
              "eval_csv": "meta/ids.csv", "eval_images": "holdout"}
    (root / "competition.json").write_text(json.dumps(config))
    comp = load_competition(root)
    assert (len(comp.train), comp.eval["image_id"].tolist(), comp.inferred) == (4, ["h.png"], {})
    (root / "competition.json").write_text(json.dumps({**config, "eval_images": "holdouts"}))
    with pytest.raises(DataError, match='"eval_images" names \'holdouts\', and .*holdouts does not exist'):
        load_competition(root)
    (root / "competition.json").write_text(json.dumps({**config, "image_root": "../../x"}))
    with pytest.raises(DataError, match="it is read from data/, the labels table's folder"):
        load_competition(root)


# --- files as they come -----------------------------------------------------------------------------------
def test_a_cp949_csv_with_semicolons_and_korean_labels_loads(tmp_path, rng):
    root = tmp_path / "kr"
    for i in range(6):
        write_image(root / "train" / "images" / f"{i}.png", rng)
    lines = ["path;label"] + [f"images/{i}.png;{['고양이', '개'][i % 2]}" for i in range(6)]
    (root / "train" / "train.csv").write_bytes(("\n".join(lines) + "\n").encode("cp949"))
    comp = load_competition(root)
    assert comp.task.class_names == tuple(sorted(["고양이", "개"]))
    assert [comp.task.class_names[i] for i in comp.train["label"]] == ["고양이", "개"] * 3


def test_an_excel_unicode_text_export_in_utf16_with_tabs_loads(tmp_path):
    """Excel's "Unicode Text" is UTF-16 with a byte-order mark and tabs: it was refused as neither UTF-8 nor CP949."""
    root = competition(tmp_path / "c", ["고양이", "dog"] * 4)
    table = root / "train" / "train.csv"
    table.write_bytes(table.read_text().replace(",", "\t").encode("utf-16"))
    assert sorted(load_competition(root).task.class_names) == ["dog", "고양이"]


def test_utf16_without_its_mark_is_named_and_loads_when_competition_json_names_it(tmp_path):
    root = competition(tmp_path / "c", [0, 1] * 4)
    table = root / "train" / "train.csv"
    table.write_bytes(table.read_text().encode("utf-16-le"))
    with pytest.raises(DataError, match='NUL bytes.*"encoding": "utf-16-le"'):
        load_competition(root)
    (root / "competition.json").write_text(json.dumps({"encoding": "utf-16-le"}))
    (root / "eval" / "info.csv").write_bytes((root / "eval" / "info.csv").read_text().encode("utf-16-le"))
    assert len(load_competition(root).train) == 8


def test_excels_separator_line_above_the_header_is_named(tmp_path):
    root = competition(tmp_path / "c", [0, 1] * 4)
    table = root / "train" / "train.csv"
    table.write_text("sep=,\n" + table.read_text())
    with pytest.raises(DataError, match="line 1 is 'sep=,', Excel's note of the separator.*delete that line"):
        load_competition(root)


def test_the_answers_file_is_read_in_the_encoding_and_separator_competition_json_names(tmp_path):
    """It was read as a comma-separated UTF-8 file whatever competition.json said of the labels table."""
    from competition.scoring import read_answers
    root = competition(tmp_path / "c", ["고양이", "개"] * 4, config={"answers": "answers.csv", "encoding": "cp949",
                                                                   "separator": ";"})
    for table in (root / "train" / "train.csv", root / "eval" / "info.csv"):
        table.write_bytes(table.read_text().replace(",", ";").encode("cp949"))
    (root / "answers.csv").write_bytes("ImageID;ans\ne0.png;개\ne1.png;고양이\n".encode("cp949"))
    comp = load_competition(root)
    assert [comp.task.class_names[i] for i in read_answers(comp)] == ["개", "고양이"]


def test_a_mask_csv_with_a_bom_is_read_as_the_mask_format(mask_comp):
    csv = mask_comp / "train" / "train.csv"
    csv.write_bytes(b"\xef\xbb\xbf" + csv.read_bytes())
    assert load_competition(mask_comp).format == "mask"


def test_twelve_bit_data_in_a_sixteen_bit_png_keeps_its_levels(tmp_path):
    ramp = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 4096)
    assert cv2.imwrite(str(tmp_path / "x.png"), ramp)
    decoded = decode_image(tmp_path / "x.png", 1)[:, :, 0]
    assert len(np.unique(decoded)) == 256  # 16 levels when 12-bit data is cut as if it used 16 bits
    assert decoded.max() == 255


@pytest.mark.parametrize("mode, ext", [("P", ".png"), ("RGBA", ".png"), ("CMYK", ".jpg"), ("P", ".gif")])
def test_palette_rgba_cmyk_and_gif_images_decode(tmp_path, mode, ext):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)).convert(mode).save(
        tmp_path / f"x{ext}")
    assert decode_image(tmp_path / f"x{ext}", 3).shape == (20, 30, 3)


def sprite(hidden: tuple[int, int, int]) -> Image.Image:
    """A 12 x 12 red square on a transparent ground whose pixels hide `hidden` (what an editor left there), with
    a half-transparent edge."""
    pixels = np.zeros((12, 12, 4), np.uint8)
    pixels[..., :3] = hidden
    pixels[3:9, 3:9] = (200, 30, 30, 255)
    pixels[3:9, 9] = (200, 30, 30, 128)
    return Image.fromarray(pixels)


def palette_png(image: Image.Image, path: Path) -> None:
    """A palette PNG whose index 0 is transparent (a tRNS chunk), the ground on index 0."""
    opaque = np.asarray(image)[..., 3] > 0
    indices = np.where(opaque, 1, 0).astype(np.uint8)
    paletted = Image.fromarray(indices, mode="P")
    paletted.putpalette(list(np.asarray(image)[0, 0, :3]) + [200, 30, 30] + [0, 0, 0] * 254)
    paletted.save(path, transparency=0)


@pytest.mark.parametrize("ext, save", [
    (".png", lambda image, path: image.save(path)),  # RGBA
    (".webp", lambda image, path: image.save(path, lossless=True)),
    (".gif", lambda image, path: image.save(path)),  # a palette with a transparent index
    (".png", palette_png),
], ids=["rgba-png", "webp", "gif", "palette-png"])
@pytest.mark.parametrize("channels", [1, 3])
def test_transparent_pixels_are_black_whatever_colour_they_hide(tmp_path, ext, save, channels):
    """Dropping the alpha kept each file's hidden colour: one sprite's ground was white and the next magenta."""
    for hidden in [(255, 255, 255), (255, 0, 255), (0, 0, 0)]:
        path = tmp_path / f"{hidden[1]}-{hidden[2]}{ext}"
        save(sprite(hidden), path)
        image = decode_image(path, channels)
        assert image.shape == (12, 12, channels)
        assert (image[0, 0] == 0).all(), f"{path.name}: the ground decodes as {image[0, 0]}"
        assert image[5, 5].max() > 0  # the sprite itself is kept


def test_a_grey_sprite_on_a_ground_hiding_a_colour_is_grey(tmp_path):
    pixels = np.zeros((12, 12, 4), np.uint8)
    pixels[..., :3] = (255, 0, 255)
    pixels[3:9, 3:9] = (120, 120, 120, 255)
    Image.fromarray(pixels).save(tmp_path / "s.png")
    assert cache.image_channels([tmp_path / "s.png"]) == 1


@pytest.mark.parametrize("ext", [".png", ".webp"])
def test_a_half_transparent_edge_is_blended_with_black(tmp_path, ext):
    path = tmp_path / f"s{ext}"
    sprite((255, 255, 255)).save(path, **({"lossless": True} if ext == ".webp" else {}))
    assert tuple(decode_image(path, 3)[5, 9]) == (100, 15, 15)  # 128/255 of (200, 30, 30)


def test_an_opaque_image_keeps_its_cache_key_and_a_transparent_one_gets_a_new_one(tmp_path):
    """The compositing moves the key (and so the data fingerprint and baselines) of files with transparency
    alone: the built-ins' opaque PNGs keep theirs."""
    def key_without_transparency(path: Path, spec: Preprocess) -> str:  # cache_key as it was before
        digest = hashlib.blake2b(digest_size=16)
        digest.update(json.dumps({"format": cache.CACHE_FORMAT, **spec.key_fields()}, sort_keys=True).encode())
        data = path.read_bytes()
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
        return digest.hexdigest()

    opaque, clear = tmp_path / "opaque.png", tmp_path / "clear.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(opaque)
    sprite((255, 255, 255)).save(clear)
    spec = Preprocess(size=None, channels=3)
    assert cache.cache_key([str(opaque)], spec) == key_without_transparency(opaque, spec)
    assert cache.cache_key([str(clear)], spec) != key_without_transparency(clear, spec)


@pytest.mark.parametrize("high", [1.0, 255.0])
def test_a_floating_point_tiff_keeps_its_levels(tmp_path, high):
    """PIL's conversion clipped a [0, 1] float image to levels 0 and 1: every image all black, without a word."""
    ramp = np.linspace(0, high, 256, dtype=np.float32).reshape(16, 16)
    Image.fromarray(ramp, "F").save(tmp_path / "x.tif")
    for channels in (1, 3):
        decoded = decode_image(tmp_path / "x.tif", channels)
        assert decoded.shape == (16, 16, channels) and decoded.dtype == np.uint8
        assert decoded.min() == 0 and decoded.max() == 255 and len(np.unique(decoded)) == 256
    from competition.data.eda import analysis_preprocess, source_sizes
    assert analysis_preprocess(source_sizes(pd.Series([tmp_path / "x.tif"]))).channels == 1  # EDA read it as RGB


def test_caches_decoded_the_old_way_are_not_served_after_the_decoding_changed(tmp_path, monkeypatch, rng):
    """A cache is keyed by file bytes and spec, so the float TIFFs and drafted phone photos cached before their
    decoding was mended would have been served as they were: black, and lying down."""
    Image.fromarray(np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8), "F").save(tmp_path / "x.tif")
    png = write_image(tmp_path / "y.png", rng)
    spec, drafted = Preprocess(), Preprocess(size=(8, 8), draft=True)
    keys = {name: cache.cache_key([path], s) for name, path, s in
            [("tiff", tmp_path / "x.tif", spec), ("png", png, spec), ("draft", png, drafted)]}
    monkeypatch.setattr(cache, "TIFF_DECODING", 1)
    monkeypatch.setattr(cache, "DRAFT_DECODING", True)  # what the key held before
    assert cache.cache_key([tmp_path / "x.tif"], spec) != keys["tiff"]
    assert cache.cache_key([png], drafted) != keys["draft"]
    assert cache.cache_key([png], spec) == keys["png"]  # every other key, fingerprint and baseline stands


@pytest.mark.parametrize("values, message", [
    (np.linspace(-1000, 3000, 64, dtype=np.float32), r"a floating-point image with values in \[-1000, 3000\]"),
    (np.full(64, np.nan, dtype=np.float32), r"a floating-point image with values in \[nan, nan\]"),
    (np.arange(64, dtype=np.int32) * 2000, r"a 32-bit integer image with values in \[0, 126000\], beyond 16 bits"),
], ids=["hounsfield", "nan", "int32"])
def test_an_image_whose_values_have_no_one_reading_is_named(tmp_path, values, message):
    Image.fromarray(values.reshape(8, 8), "F" if values.dtype.kind == "f" else "I").save(tmp_path / "x.tif")
    with pytest.raises(DataError, match=f"x.tif: {message}"):
        decode_image(tmp_path / "x.tif", 1)


def test_an_exif_rotated_photo_is_upright(tmp_path):
    image = Image.fromarray(np.zeros((20, 40, 3), np.uint8))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    image.save(tmp_path / "x.jpg", exif=exif)
    assert decode_image(tmp_path / "x.jpg", 3).shape == (40, 20, 3)


@pytest.mark.parametrize("channels", [1, 3])
def test_a_phone_photo_is_upright_and_portrait_in_every_decoder(tmp_path, channels):
    """Draft decoding ignored the EXIF orientation (a portrait photo was cached lying down, squeezed into the
    portrait size), and the header's sizes, which `data`, EDA and the scaffold read, were the stored ones."""
    stored = np.zeros((200, 400, 3), np.uint8)
    stored[:50, :50] = 255  # a mark at the stored top-left: shown at the top-right after a quarter turn
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    assert cache.image_header(tmp_path / "phone.jpg")[:2] == (200, 400)  # width x height as shown
    for draft in (False, True):
        spec = Preprocess(size=(100, 50), channels=channels, draft=draft)
        shown = cache.preprocess_image(tmp_path / "phone.jpg", spec)[..., 0]
        assert shown.shape == (100, 50)
        assert shown[:10, -10:].mean() > 200 and shown[:10, :30].mean() < 50 and shown[-40:].mean() < 50


def bomb_png(path: Path, side: int = 30000) -> Path:
    """A PNG that declares side x side pixels with a few bytes of data (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_a_decompression_bomb_is_refused_before_decoding_everywhere(tmp_path, capsys):
    root = competition(tmp_path / "c", [0, 1] * 4)
    bomb_png(root / "train" / "images" / "t003.png")
    with pytest.raises(DataError, match="t003.png: declares 30000x30000 pixels"):
        cached_images([root / "train" / "images" / "t003.png"], Preprocess(size=(8, 8)), tmp_path / "cache")
    with pytest.raises(DataError, match="declares 30000x30000"):
        run_eda(load_competition(root), tmp_path / "eda", tmp_path / "cache")
    assert cli(["data", str(root)]) == 1
    assert "t003.png: declares 30000x30000" in capsys.readouterr().err


def test_mixed_sizes_are_resized_to_one_and_data_states_it(tmp_path, rng, capsys):
    root = competition(tmp_path / "c", [0, 1] * 4)
    write_image(root / "train" / "images" / "t004.png", rng, size=(20, 16))
    images = cached_images(load_competition(root).train["path"], Preprocess(channels=3), tmp_path / "cache")
    assert images.shape == (8, 12, 10, 3)
    assert cli(["data", str(root)]) == 0
    assert "mixed image sizes (2 distinct: 10x12 (9), 16x20 (1))" in capsys.readouterr().out


def test_mixed_sizes_train_at_the_median_size_whatever_the_row_order_or_budget(tmp_path, capsys):
    """A thumbnail in the first row made every image 6x6 (and a budget's subsample, whose first row is another
    image, trained at another size than the full run): mixed sizes now train at the median train size."""
    from competition.experiment import Budget, Experiment
    from competition.runner import prepare_data
    root = competition(tmp_path / "c", ["a", "b"] * 6, rng=np.random.default_rng(1))
    for i, size in enumerate([(6, 6), (30, 20), (12, 10), (12, 10), (14, 8)]):
        write_image(root / "train" / "images" / f"t{i:03d}.png", np.random.default_rng(i), size=size)
    table = pd.read_csv(root / "train" / "train.csv")
    spec = Experiment("mixed", data=str(root))
    shapes = []
    for order, budget in [(table, Budget("all")), (table[::-1], Budget("all")), (table, Budget("some", max_train=5))]:
        order.to_csv(root / "train" / "train.csv", index=False)
        data = prepare_data(spec, budget, load_competition(root), tmp_path / "cache")
        shapes.append((data.images.shape[1:], data.eval_images.shape[1:]))
    assert shapes == [((12, 10, 3), (12, 10, 3))] * 3
    assert cli(["data", str(root)]) == 0
    assert "without Experiment(image_size=...) they train at 12x10 (height x width), the median" in (
        capsys.readouterr().out
    )
    summary = run_eda(load_competition(root), tmp_path / "eda", tmp_path / "cache")  # it analyses at its own size
    assert summary["trains_at"] == "10x12 (w x h), the median of train's sizes"
    written = (tmp_path / "eda" / "summary.md").read_text()
    assert "- trains at (without Experiment(image_size=...)): 10x12 (w x h)" in written


def test_eda_names_an_image_far_off_the_common_size(tmp_path):
    """A 2x2 thumbnail among 12x10 images trains upscaled like the rest: the EDA names it, and nothing else."""
    root = competition(tmp_path / "c", ["a", "b"] * 4, rng=np.random.default_rng(1))
    write_image(root / "train" / "images" / "t002.png", np.random.default_rng(2), size=(2, 2))
    write_image(root / "train" / "images" / "t005.png", np.random.default_rng(3), size=(6, 6))  # half: not off
    summary = run_eda(load_competition(root), tmp_path / "eda", tmp_path / "cache")
    assert [Path(entry).name for entry in summary["size_outliers"]] == ["t002.png (2x2)"]
    assert "off the median (thumbnails, truncated exports?): 1 [" in (tmp_path / "eda" / "summary.md").read_text()


def test_a_budgets_subsample_trains_in_the_colour_of_the_whole_competition(tmp_path):
    """The colour check read the budget's subsample: where its rows were all gray scans, the smoke budget
    trained gray images of a colour competition, and the full run colour ones."""
    from competition.experiment import Budget, Experiment
    from competition.runner import prepare_data, subsample
    root = competition(tmp_path / "c", ["a", "b"] * 6)
    table = pd.read_csv(root / "train" / "train.csv").assign(label=["a", "b"] * 6)
    kept = set(subsample(table, 5, seed=0))
    for i in range(12):  # gray scans on the rows a subsample of 5 keeps, colour photos elsewhere
        write_image(root / "train" / "images" / f"t{i:03d}.png", np.random.default_rng(i),
                    channels=1 if i in kept else 3)
    spec = Experiment("colour", data=str(root))
    channels = [prepare_data(spec, budget, load_competition(root), tmp_path / "cache").images.shape[-1]
                for budget in (Budget("some", max_train=5), Budget("all"))]
    assert channels == [3, 3]


def test_a_budgets_subsample_keeps_the_rows_its_split_needs_of_every_class(tmp_path):
    """A class of 5 rows among 4,000 kept 4 in smoke's 3,000 (a stratified draw rounds it down), so
    cv='stratified:5' failed at smoke, saying the class had 4 members, and ran at standard; a rarer class was
    left out of the smoke gate. Every class now keeps the rows its split needs, or all it has."""
    from competition.data.splits import make_splits
    from competition.experiment import Budget, Experiment
    from competition.runner import prepare_data
    root = competition(tmp_path / "c", ["a"] * 60 + ["b"] * 5 + ["c"] * 6)
    comp = load_competition(root)
    for cv, needed in (("stratified:5", [5, 5]), ("holdout", [2, 2])):
        spec = Experiment("rare", data=str(root), cv=cv)
        table = prepare_data(spec, Budget("some", max_train=12), comp, tmp_path / "cache").table
        counts = table["label"].value_counts()
        assert [counts.get(1, 0), counts.get(2, 0)] == needed and len(table) <= 12 + sum(needed)
        scheme, k = spec.cv_scheme()
        assert len(make_splits(table, scheme, k, class_names=comp.task.class_names)) == k
    whole = prepare_data(Experiment("rare", data=str(root)), Budget("all"), comp, tmp_path / "cache").table
    assert len(whole) == 71  # no budget, no subsample


def test_a_face_crop_without_a_size_is_refused(tmp_path):
    """Each face box has its own size, so the first image's box set the size of every image."""
    from competition.errors import ConfigError
    from competition.experiment import Experiment
    with pytest.raises(ConfigError, match="crop='face'.*image_size"):
        Experiment("faces", crop="face")
    assert Experiment("faces", crop="face", image_size=64).crop == "face"


@pytest.mark.parametrize("answers, message", [
    ({"ImageID": ["e0.png"], "ans": ["a"]}, "no answer for 1 eval id\\(s\\), e.g. \\['e1.png'\\]"),
    ({"ImageID": ["e0.png", "e1.png"], "ans": ["a", "c"]}, "the answer for 'e1.png' is not a label"),
    ({"id": ["e0.png", "e1.png"], "ans": ["a", "b"]}, "missing required column\\(s\\) \\['ImageID'\\]"),
])
def test_data_checks_the_eval_answers_it_says_will_score(tmp_path, capsys, answers, message):
    """data said "eval scores are computed" and "valid" for an answers file that lacked ids: every
    experiment then trained and failed when its eval split was scored."""
    root = competition(tmp_path / "c", ["a", "b"] * 4, config={"answers": "answers.csv"})
    pd.DataFrame(answers).to_csv(root / "answers.csv", index=False)
    assert cli(["data", str(root)]) == 1
    out, err = capsys.readouterr()
    assert "valid" not in out.split()
    assert re.search(f"answers.csv: {message}", err) and "the eval answers cannot score the eval split" in err


@pytest.mark.parametrize("content, said", [
    (b"<!DOCTYPE html><html><body>403 Forbidden</body></html>", "a web page (HTML), not an image"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 1234\n", "run `git lfs pull`"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "a HEIC/HEIF photo"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', "an SVG drawing"),
    (b"%PDF-1.7\n", "a PDF document"),
    (b"", "an empty file (0 bytes)"),
    (b"\x13\x37 not any format", "corrupt or unreadable image"),
])
def test_a_file_that_is_no_image_is_named_for_what_it_is(tmp_path, content, said):
    """Scraped and synced datasets hold these under image names; each was "corrupt or unreadable"."""
    root = competition(tmp_path / "c", [0, 1] * 4)
    (root / "train" / "images" / "t003.png").write_bytes(content)
    with pytest.raises(DataError, match=re.escape(said)) as caught:
        decode_image(root / "train" / "images" / "t003.png")
    assert "t003.png" in str(caught.value)


def test_data_reports_every_image_that_does_not_decode_at_once(tmp_path, capsys):
    root = competition(tmp_path / "c", [0, 1] * 4)
    for name in ("t001.png", "t006.png"):
        (root / "train" / "images" / name).write_bytes(f"not an image: {name}".encode())
    assert cli(["data", str(root)]) == 1
    err = capsys.readouterr().err
    assert "t001.png: corrupt or unreadable" in err and "t006.png: corrupt or unreadable" in err
    assert "2 image(s) do not decode" in err


# --- incomplete data ----------------------------------------------------------------------------------------
def test_missing_training_images_are_skipped_and_named_when_asked(tmp_path, capsys):
    root = competition(tmp_path / "c", [0, 1] * 5, config={"on_missing": "skip"})
    (root / "train" / "images" / "t004.png").unlink()
    comp = load_competition(root)
    assert len(comp.train) == 9 and comp.skipped == [
        {"row": 6, "image_id": "images/t004.png", "path": str(root / "train" / "images" / "t004.png")}]
    assert cli(["data", str(root)]) == 0
    assert "skipped 1 train row(s) whose images are missing" in capsys.readouterr().out


def test_a_mask_person_missing_an_image_is_skipped_whole_when_asked(mask_comp):
    folder = next(p for p in sorted((mask_comp / "train" / "images").iterdir()))
    next(folder.glob("normal.*")).unlink()
    with pytest.raises(DataError, match="\"on_missing\": \"skip\""):
        load_competition(mask_comp)
    (mask_comp / "competition.json").write_text(json.dumps({"on_missing": "skip"}))
    comp = load_competition(mask_comp)
    assert len(comp.train) == 5 * 7 and len(comp.skipped) == 1 and comp.skipped[0]["image_id"] == folder.name


def test_an_eval_row_without_its_id_is_named(tmp_path):
    root = competition(tmp_path / "c", [0, 1] * 4, eval_ids=("e0.png", "e1.png", "e2.png"))
    (root / "eval" / "info.csv").write_text("ImageID,ans\ne0.png,\n ,\ne2.png,\n")
    with pytest.raises(DataError, match=r"info.csv: column 'ImageID' is empty in row\(s\) 3;"):
        load_competition(root)


def test_a_missing_eval_image_is_never_skipped(tmp_path):
    root = competition(tmp_path / "c", [0, 1] * 4, config={"on_missing": "skip"})
    (root / "eval" / "images" / "e1.png").unlink()
    with pytest.raises(DataError, match="eval rows are never skipped"):
        load_competition(root)


def test_windows_separators_in_csv_paths_are_read(tmp_path):
    root = competition(tmp_path / "c", [0, 1] * 4)
    df = pd.read_csv(root / "train" / "train.csv")
    df["path"] = df["path"].str.replace("/", "\\")
    df.to_csv(root / "train" / "train.csv", index=False)
    assert len(load_competition(root).train) == 8


def test_a_labels_table_with_other_column_names_is_answered_with_the_keys_that_read_it(tmp_path):
    root = competition(tmp_path / "c", ["cat", "dog"] * 4)
    table = root / "train" / "train.csv"
    table.write_text(table.read_text().replace("path,label", "image,class"))
    said = 'column \'image\' holds image file names: "path_column": "image", "label_column": "class"'
    with pytest.raises(DataError, match=re.escape(said)):
        load_competition(root)
    (root / "competition.json").write_text(json.dumps({"path_column": "image", "label_column": "class"}))
    assert load_competition(root).task.class_names == ("cat", "dog")


@pytest.mark.parametrize("header, named", [("path,label,label", "['label']"), ("path,path,label", "['path']")])
def test_a_header_that_names_a_column_it_reads_twice_is_an_error(tmp_path, header, named):
    root = competition(tmp_path / "c", [0, 1] * 4)
    table = root / "train" / "train.csv"
    lines = table.read_text().splitlines()
    table.write_text("\n".join([header] + [f"{line},{line.split(',')[-1]}" for line in lines[1:]]) + "\n")
    with pytest.raises(DataError, match=re.escape(f"names column(s) {named} more than once")):
        load_competition(root)


@pytest.mark.parametrize("written, hint", [
    ("IMAGES/t002.png", "has ['images'] (names differ in case here)"),  # a folder in another case
    ("images/", "images is a folder, not an image file"),
    ("imgs/t002.png", "a file of that name is at"),  # found by its name under the root
    ("nowhere/t999.png", "1 missing in all"),  # an absent folder and no file of the name: no hint to mislead
    ("https://example.com/t002.png", "it is a URL: the harness reads images from disk"),
])
def test_a_missing_image_names_what_differs_along_its_path(tmp_path, written, hint):
    root = competition(tmp_path / "c", [0, 1] * 4)
    table = root / "train" / "train.csv"
    table.write_text(table.read_text().replace("images/t002.png", written))
    with pytest.raises(DataError, match="row 4") as caught:
        load_competition(root)
    assert hint in str(caught.value)
    assert "differ in case" not in str(caught.value) or written.startswith("IMAGES")
    assert ("a file of that name" in str(caught.value)) == (written.endswith("t002.png") and "images" not in written)


def test_paths_that_leave_out_a_class_subfolder_name_where_a_file_of_the_name_is(tmp_path):
    root = competition(tmp_path / "c", [0, 1] * 4)
    (root / "train" / "images" / "cat").mkdir()
    (root / "train" / "images" / "t000.png").rename(root / "train" / "images" / "cat" / "t000.png")
    with pytest.raises(DataError, match=r"row 2.*a file of that name is at .*images/cat/t000.png"):
        load_competition(root)


def test_ids_written_without_their_extension_find_their_image_and_stay_as_written(tmp_path, rng):
    """Kaggle's id columns (APTOS's id_code, dog breeds' id) name 'abc' for abc.png, train and test alike."""
    root = competition(tmp_path / "c", [0, 1] * 4)
    df = pd.read_csv(root / "train" / "train.csv")
    (root / "train" / "images" / "t001.png").rename(root / "train" / "images" / "t001.JPG")
    df["path"] = df["path"].str.removesuffix(".png")
    df.to_csv(root / "train" / "train.csv", index=False)
    pd.DataFrame({"ImageID": ["e0", "e1.png"], "ans": ""}).to_csv(root / "eval" / "info.csv", index=False)
    comp = load_competition(root)
    assert comp.train["path"].map(lambda p: Path(p).name).tolist()[:3] == ["t000.png", "t001.JPG", "t002.png"]
    assert comp.eval["image_id"].tolist() == ["e0", "e1.png"]  # the submission answers the ids as written
    assert Path(comp.eval["path"].iat[0]).name == "e0.png"


def nfd(text: str) -> str:
    """A name as a Mac's file system writes it (decomposed): other code points, the same letters on screen."""
    import unicodedata
    return unicodedata.normalize("NFD", text)


def test_names_unzipped_from_a_mac_are_found_under_the_spelling_the_csv_types(tmp_path, rng):
    """A Korean or accented folder or file name unzipped from a Mac is decomposed on disk, and the CSV types it
    composed: every such row was 'not found', train and eval alike."""
    root = competition(tmp_path / "c", [0, 1] * 4)
    images = root / "train" / "images"
    (images / nfd("사진")).mkdir()
    (images / "t001.png").rename(images / nfd("사진") / nfd("고양이.png"))
    (root / "eval" / "images" / "e0.png").rename(root / "eval" / "images" / nfd("café.png"))
    df = pd.read_csv(root / "train" / "train.csv")
    df.loc[1, "path"] = "images/사진/고양이.png"
    df.to_csv(root / "train" / "train.csv", index=False)
    pd.DataFrame({"ImageID": ["café", "e1.png"], "ans": ""}).to_csv(root / "eval" / "info.csv", index=False)
    comp = load_competition(root)
    assert Path(comp.train["path"].iat[1]) == images / nfd("사진") / nfd("고양이.png")
    assert comp.eval["image_id"].tolist() == ["café", "e1.png"]  # the submission answers the ids as written
    assert Path(comp.eval["path"].iat[0]).name == nfd("café.png")


def test_a_mask_person_folder_unzipped_from_a_mac_is_found_under_the_name_the_csv_types(mask_comp):
    """The mask format read each person's folder as the CSV spells it: a decomposed folder name (a Korean or
    accented race unzipped from a Mac) was 'does not exist', and with "on_missing": "skip" the person was
    left out of training."""
    images, table = mask_comp / "train" / "images", pd.read_csv(mask_comp / "train" / "train.csv")
    typed = "000001_male_한국인_45"
    (images / table.loc[1, "path"]).rename(images / nfd(typed))
    table.loc[1, ["race", "path"]] = ["한국인", typed]
    table.to_csv(mask_comp / "train" / "train.csv", index=False)
    comp = load_competition(mask_comp)
    person = comp.train[comp.train["image_id"].str.startswith(typed)]
    assert len(person) == len(MASK_STEMS) and person["path"].map(lambda p: Path(p).parent.name == nfd(typed)).all()


def test_a_class_folder_unzipped_from_a_mac_is_the_class_as_typed(tmp_path, rng):
    """Decomposed class folder names became decomposed labels: a declared class list typed composed refused every
    folder, a submission answered in code points a grader reads as other labels, and eval class folders in the
    other form were not read as answers, so the eval split went unscored without a word."""
    import unicodedata
    root = tmp_path / "folder"
    for name in ("강아지", "고양이"):
        for i in range(3):
            write_image(root / "train" / nfd(name) / f"t{i}.png", rng)
            write_image(root / "eval" / name / f"e{i}.png", rng)
    comp = load_competition(root)
    assert comp.task.class_names == ("강아지", "고양이")
    assert all(unicodedata.is_normalized("NFC", name) for name in comp.task.class_names)
    assert list(comp.folder_answers()) == [0, 0, 0, 1, 1, 1]
    (root / "competition.json").write_text(json.dumps({"classes": ["고양이", "강아지"]}))
    assert load_competition(root).train["label"].tolist() == [1, 1, 1, 0, 0, 0]


def test_a_label_in_both_unicode_forms_is_one_label_written_two_ways(tmp_path):
    root = competition(tmp_path / "c", [nfd("고양이"), "고양이", "개", "고양이", "개", "개"])
    with pytest.raises(DataError, match=r"writes one label in 2 ways .*row\(s\) 2.*composed and decomposed forms"):
        load_competition(root)


def test_absolute_paths_written_on_another_machine_name_what_to_write(tmp_path):
    """A notebook writes /kaggle/input/<competition>/train/images/x.png; the error said only that paths must
    stay inside the root."""
    root = competition(tmp_path / "c", [0, 1] * 4)
    df = pd.read_csv(root / "train" / "train.csv")
    df["path"] = "/kaggle/input/my-comp/train/" + df["path"]
    df.to_csv(root / "train" / "train.csv", index=False)
    with pytest.raises(DataError, match=r"row 2 has path '/kaggle/input/my-comp/train/images/t000.png', which is "
                       r"absolute.*The file is here as 'images/t000.png', read from .*/train: write the paths "
                       r"from there \(without '/kaggle/input/my-comp/train/'\)"):
        load_competition(root)


def test_a_path_that_differs_from_its_file_in_case_names_the_file(tmp_path):
    """Windows and macOS ignore case, so a CSV written there may say T003.PNG for t003.png."""
    root = competition(tmp_path / "c", [0, 1] * 4)
    df = pd.read_csv(root / "train" / "train.csv")
    df.loc[3, "path"] = "images/T003.PNG"
    df.to_csv(root / "train" / "train.csv", index=False)
    with pytest.raises(DataError, match=r"row 5: .*has \['t003.png'\] \(names differ in case here\)"):
        load_competition(root)


@pytest.mark.parametrize("prefix", ["images/", "eval/images/", "eval\\images\\"])
def test_eval_ids_written_from_eval_or_the_root_find_their_images_and_stay_as_written(tmp_path, prefix):
    """Kaggle's test.csv often names 'test/abc.jpg': ids written from eval/ or the competition root were looked
    for under eval/images/ again, and no setting could point elsewhere."""
    root = competition(tmp_path / "c", [0, 1] * 4)
    ids = [prefix + "e0.png", prefix + "e1.png"]
    pd.DataFrame({"ImageID": ids, "ans": ""}).to_csv(root / "eval" / "info.csv", index=False)
    comp = load_competition(root)
    assert comp.eval["image_id"].tolist() == ids
    assert [Path(p) for p in comp.eval["path"]] == [root / "eval" / "images" / name for name in ("e0.png", "e1.png")]


def test_a_template_without_its_id_column_names_the_setting_that_names_it(tmp_path):
    root = competition(tmp_path / "c", [0, 1] * 4)
    pd.DataFrame({"id": ["e0.png", "e1.png"], "label": 0}).to_csv(root / "eval" / "info.csv", index=False)
    with pytest.raises(DataError, match="info.csv: missing required column.*'ImageID'.*set id_column in competition"):
        load_competition(root)
    (root / "competition.json").write_text(json.dumps({"id_column": "id", "answer_column": "label"}))
    assert load_competition(root).eval["image_id"].tolist() == ["e0.png", "e1.png"]


def test_an_id_without_extension_that_two_files_could_be_is_an_error_naming_both(tmp_path, rng):
    root = competition(tmp_path / "c", [0, 1] * 4)
    write_image(root / "eval" / "images" / "e0", rng, ext=".jpg")
    pd.DataFrame({"ImageID": ["e0", "e1.png"], "ans": ""}).to_csv(root / "eval" / "info.csv", index=False)
    with pytest.raises(DataError, match="has \\['e0.jpg', 'e0.png'\\] \\(another extension\\?\\)"):
        load_competition(root)


def test_one_photo_in_two_peoples_folders_is_named(mask_comp):
    first, second = sorted((mask_comp / "train" / "images").iterdir())[:2]
    source = next(first.glob("normal.*"))
    target = next(second.glob("normal.*"))
    target.unlink()
    (second / source.name).write_bytes(source.read_bytes())
    with pytest.raises(DataError, match="same image \\(identical bytes\\) is listed under 2 ids"):
        load_competition(mask_comp)


def test_a_misspelt_built_in_name_is_answered_with_the_built_in_meant(tmp_path, monkeypatch):
    """It was read as a directory that does not exist, naming no built-in."""
    from competition.data import open_competition
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"'fashon' is neither a built-in competition nor a directory; did you mean "
                                         r"the built-in 'fashion'\?"):
        open_competition("fashon")
    with pytest.raises(DataError, match="competition directory does not exist"):
        open_competition(tmp_path / "mine")  # a path, far from every built-in name: no guess
