"""colabs/pretrained_posters.ipynb run as a user runs it: one CPU device and XLA's usual
optimisations (the suite's 8 simulated devices and fast-compile flag are not passed on), on the
pipeline shipped in pretrained/. pytest.ini keeps nbmake from running it a second time."""

import os

import nbclient
import nbformat

from tests import helpers

NOTEBOOK = helpers.REPO / "colabs" / "pretrained_posters.ipynb"
# The suite's settings that a user's runtime does not have.
SUITE_ONLY = ("XLA_FLAGS", "JAX_DISABLE_MOST_OPTIMIZATIONS")


def test_the_pretrained_notebook_runs_top_to_bottom_and_shows_every_stage():
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  env = {k: v for k, v in os.environ.items() if k not in SUITE_ONLY}
  client = nbclient.NotebookClient(
      notebook, timeout=900, resources={"metadata": {"path": str(NOTEBOOK.parent)}}
  )
  client.execute(env=env)
  outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
  printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
  assert "wgan → sr3_128 → sr3_256 | sizes [64, 128, 256]" in printed
  images = [o for o in outputs if "image/png" in o.get("data", {})]
  assert len(images) == 3  # Two posters, then the cascade figure.
