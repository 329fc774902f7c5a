"""The dataset folder validator (python -m posergen_jax.data.check) on posters and CUB folders."""

import json
import pathlib
import re

from posergen_jax.data import check
from posergen_jax.data.posters import captions_file
from tests import cub_birds_test, helpers, posters_test


def _check(directory, capsys) -> tuple[int, str, str]:
  code = check.main(["check", str(directory)])
  out, err = capsys.readouterr()
  return code, out, err.strip().splitlines()[-1] if err.strip() else ""  # After the bar.


def test_a_posters_folder_reports_splits_skips_captions_and_categories(tmp_path, capsys):
  folder = posters_test.write_fake_posters(tmp_path / "posters")
  code, out, err = _check(folder, capsys)
  assert code == 0 and "error" not in err
  lines = out.splitlines()
  assert lines[0] == f"{folder} (posters):"
  want_train, want_test = posters_test._SPLITS["train"], posters_test._SPLITS["test"]
  assert f"train: {want_train + 1} examples, {want_train} usable images, 1 to skip" in lines
  assert f"test: {want_test + 1} examples, {want_test} usable images, 1 to skip" in lines
  assert any(line.startswith("  skipped: ") and posters_test._TRUNCATED in line for line in lines)
  assert "  distinct captions per example: min 1, median 2, max 10" in lines  # The train split.
  assert lines[-1] == "A build would go through."
  assert any("categories (" in line and "tech_expo 1" in line for line in lines)


def test_what_would_stop_a_build_exits_1_naming_it(tmp_path, capsys):
  folder = posters_test.write_fake_posters(tmp_path / "posters")
  path = folder / captions_file.CAPTIONS_FILE
  lines = path.read_text().splitlines()
  path.write_text("\n".join([*lines[:2], '{"image": "web/nothing.jpg", "captions": ["x"]}']))
  code, _, err = _check(folder, capsys)
  assert code == 1
  assert err == (f"error: posters: {path}:3: expected the image {folder / 'web' / 'nothing.jpg'}")
  # Every image of a split unreadable: the report, then the line.
  record = {"image": posters_test._TRUNCATED, "captions": ["x"], "split": "test"}
  path.write_text("\n".join([lines[0], json.dumps(record)]) + "\n")
  code, out, err = _check(folder, capsys)
  assert code == 1 and "test: 1 examples, 0 usable images, 1 to skip" in out
  assert err == "error: a build would stop: split 'test': none of its 1 images can be used"


def test_a_metadata_jsonl_folder_reports_as_its_captions_jsonl_twin(tmp_path, capsys):
  def report(folder: pathlib.Path) -> tuple[int, list[str], str]:
    code, out, err = _check(folder, capsys)
    # The folder's name aside, and the address in PIL's message on an unreadable image.
    return code, re.sub(r" at 0x[0-9a-f]+", "", out.replace(str(folder), "DIR")).splitlines(), err

  captions = report(posters_test.write_fake_posters(tmp_path / "captions"))
  folder = posters_test.write_fake_metadata(tmp_path / "imagefolder")
  code, lines, err = report(folder)
  assert code == 0 and "error" not in err
  want_train = posters_test._SPLITS["train"]
  assert lines[0] == "DIR (posters):" and lines[-1] == "A build would go through."
  assert f"train: {want_train + 1} examples, {want_train} usable images, 1 to skip" in lines
  assert any(line.startswith(f"  skipped: DIR/{posters_test._NOT_AN_IMAGE}: ") for line in lines)
  assert (code, lines) == captions[:2]
  # A bad line, then both files: each stops the check, naming the file.
  path = folder / captions_file.METADATA_FILE
  path.write_text(path.read_text().replace('"only one"', '""'))
  code, _, err = _check(folder, capsys)
  assert code == 1
  assert err.startswith(f'error: posters: {path}:2: "text" must be a non-empty list')
  (folder / captions_file.CAPTIONS_FILE).write_text("")
  code, _, err = _check(folder, capsys)
  assert code == 1
  assert err == (
      f"error: posters: {folder} holds both captions.jsonl and metadata.jsonl; a build reads one: "
      "remove the other."
  )


def test_a_folder_of_neither_layout_is_named(tmp_path, capsys):
  code, _, err = _check(tmp_path, capsys)
  assert code == 1 and err.startswith(f"error: {tmp_path} holds neither a posters folder")


def test_a_cub_folder_and_the_command_line(tmp_path):
  folder = cub_birds_test.write_fake_cub(tmp_path / "cub", with_embeddings=False)
  result = helpers.run_module("posergen_jax.data.check", str(folder), timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  counts = {k: v + 1 for k, v in cub_birds_test._SPLITS.items()}  # One bad image each.
  for split, count in counts.items():
    assert f"{split}: {count} examples, {count - 1} usable images, 1 to skip" in result.stdout
