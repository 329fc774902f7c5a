r"""A web demo: prompt → poster in the browser, from an exported pipeline (Gradio).

  python -m posergen_jax.demo --pretrained=pretrained/gan_sr3 [--port=7860] [--host=127.0.0.1]

Then open http://127.0.0.1:7860. A prompt (Chinese or English), an optional title and subtitle,
a seed, the super-resolution sampler and its steps → the poster and the seconds each stage took.
The poster equals `python -m posergen_jax.generate --pretrained=DIR --prompt=P --seed=S` (same
sampler and steps) pixel for pixel; bad input shows the one-line error `generate` prints.
Needs the `demo` extra: pip install -e '.[demo]'.
"""

import collections
import math
import os
import sys

from absl import app, flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # Nothing leaves the machine.

import jax  # noqa: E402
import numpy as np  # noqa: E402

from posergen_jax import cli  # noqa: E402
from posergen_jax.data.synthetic_posters import captions, render, synthetic_posters  # noqa: E402
from posergen_jax.diffusion import samplers  # noqa: E402
from posergen_jax.families import sr3  # noqa: E402
from posergen_jax.io import errors  # noqa: E402
from posergen_jax.io import images as image_io  # noqa: E402
from posergen_jax.poster import outputs, pipeline, pretrained, typeset  # noqa: E402

FLAGS = flags.FLAGS
# Seeds as `generate --seed` takes them.
MAX_SEED = 2**32 - 1
# Open pipelines kept, one per (sampler, steps) asked for; each holds its parameters and compiled
# samplers, so going back to a setting costs no recompilation.
OPEN_PIPELINES = 2


class PosterService:
  """One poster per request from an exported pipeline (the demo's work, without the web page).

  Args:
    directory: a folder written by python -m posergen_jax.export.

  Raises:
    MissingFileError: `directory` holds no exported pipeline.
  """

  def __init__(self, directory: str):
    self.directory = directory
    summary = pretrained.read_summary(directory)
    self.stage_names = tuple(summary["stage_order"])
    last = pretrained.stage_config(directory, self.stage_names[-1])
    self.default_sampler = last.diffusion.sampler
    self.default_steps = sr3.sampling_steps(last)
    self._tokenize = pipeline.pretrained_prompt_tokenizer(directory)
    self._open: collections.OrderedDict[tuple[str, int], pipeline.PosterPipeline] = (
        collections.OrderedDict()
    )

  def _pipeline(self, sampler: str, steps: int) -> pipeline.PosterPipeline:
    """The open pipeline for (sampler, steps), loading it (and closing the oldest) if needed."""
    key = (sampler, steps)
    if key not in self._open:
      if len(self._open) == OPEN_PIPELINES:
        self._open.popitem(last=False)[1].close()
      self._open[key] = pipeline.PosterPipeline.from_pretrained(self.directory, sampler, steps)
    self._open.move_to_end(key)
    return self._open[key]

  def poster(
      self,
      prompt: str,
      title: str = "",
      subtitle: str = "",
      seed: int = 0,
      sampler: str | None = None,
      steps: int | None = None,
  ) -> tuple[np.ndarray, dict[str, float]]:
    """The poster for `prompt`, as `generate --prompt=prompt --seed=seed` writes it.

    Args:
      prompt: the text (Chinese or English).
      title, subtitle: text set over the poster; empty for none (a subtitle needs a title).
      seed: 0 .. 2**32 - 1.
      sampler, steps: the super-resolution sampling; None for the exported setting.

    Returns:
      (uint8 [S,S,3] poster, seconds of sampling per stage name, compilation excluded).

    Raises:
      InputError: a bad prompt, title, seed, sampler or steps (one line naming it).
    """
    sampler = sampler or self.default_sampler
    steps = self.default_steps if steps is None else int(steps)
    finite = isinstance(seed, (int, float)) and math.isfinite(seed)
    if not (finite and seed == int(seed) and 0 <= seed <= MAX_SEED):
      raise errors.InputError(f"seed={seed}: must be an integer in [0, {MAX_SEED}].")
    title, subtitle = (title or "").strip(), (subtitle or "").strip()
    if subtitle and not title:
      raise errors.InputError("A subtitle needs a title; add a title or clear the subtitle.")
    self._tokenize([prompt])  # Names an empty or unreadable prompt before any model runs.
    posters = self._pipeline(sampler, steps)  # Names a bad sampler or step count.
    # As generate's first batch: the prompt padded to the devices, key fold_in(key(seed), 0).
    [(_, batch)] = outputs.batches([prompt], posters.batch_multiple)
    result = posters.generate(batch, jax.random.fold_in(jax.random.key(int(seed)), 0))
    image = image_io.to_uint8(result.stage_images[-1])[0]
    if title:
      image = typeset.typeset(image, title, subtitle or None)
    return image, result.stage_seconds

  def close(self) -> None:
    """Closes every open pipeline."""
    while self._open:
      self._open.popitem()[1].close()


def seconds_text(seconds: dict[str, float]) -> str:
  """'wgan 0.12 s · sr3_128 1.30 s · ...' for a stage -> seconds dict."""
  return " · ".join(f"{name} {value:.2f} s" for name, value in seconds.items())


def example_prompts(count: int = 4) -> list[str]:
  """Prompts the built-in posters' catalogue can describe: the first caption of each of the first
  `count` test posters of synthetic_posters, alternately Chinese and English."""
  half = captions.NUM_CAPTIONS_PER_LANGUAGE
  return [
      captions.make_captions(render.describe_poster(synthetic_posters.example_seed("test", i)))[
          0 if i % 2 == 0 else half
      ]
      for i in range(count)
  ]


def build(service: PosterService):
  """The Gradio page over `service`: inputs → poster image and seconds per stage. Its API
  endpoint `/generate` takes (prompt, title, subtitle, seed, sampler, steps)."""
  import gradio as gr  # The `demo` extra; imported here so the rest of the package needs none.

  def generate(prompt, title, subtitle, seed, sampler, steps):
    try:
      image, seconds = service.poster(prompt, title, subtitle, seed, sampler, steps)
    except errors.UserError as e:
      raise gr.Error(str(e), print_exception=False) from e
    return image, seconds_text(seconds)

  with gr.Blocks(title="posergen_jax: text → poster", analytics_enabled=False) as page:
    gr.Markdown(
        f"## posergen_jax: text → poster\n{' → '.join(service.stage_names)}, "
        f"from `{service.directory}`."
    )
    with gr.Row():
      with gr.Column():
        prompt = gr.Textbox(label="Prompt (Chinese or English)", elem_id="prompt")
        title = gr.Textbox(label="Title (optional)", elem_id="title")
        subtitle = gr.Textbox(label="Subtitle (optional)", elem_id="subtitle")
        seed = gr.Number(label="Seed", value=0, precision=0, minimum=0, maximum=MAX_SEED)
        sampler = gr.Dropdown(
            list(samplers.SAMPLERS), value=service.default_sampler, label="Sampler"
        )
        steps = gr.Number(
            label="Sampler steps per super-resolution stage",
            value=service.default_steps,
            precision=0,
            minimum=1,
        )
        button = gr.Button("Generate", variant="primary", elem_id="generate")
      with gr.Column():
        poster = gr.Image(label="Poster", format="png", type="numpy", elem_id="poster")
        timing = gr.Textbox(label="Seconds per stage", elem_id="seconds")
    gr.Examples(example_prompts(), inputs=[prompt], label="Prompts of the built-in posters' kind")
    button.click(
        generate,
        [prompt, title, subtitle, seed, sampler, steps],
        [poster, timing],
        api_name="generate",
    )
  return page


def define_flags() -> None:
  """The demo's command-line flags (defined only when it runs as a program)."""
  flags.DEFINE_string("pretrained", None, "An exported pipeline (python -m posergen_jax.export).")
  flags.DEFINE_string("host", "127.0.0.1", "Address to serve on (0.0.0.0: every interface).")
  flags.DEFINE_integer("port", 7860, "Port to serve on.", lower_bound=1, upper_bound=65535)
  cli.define_jax_flags()
  flags.mark_flags_as_required(["pretrained"])
  cli.require_text("pretrained")


def main(argv):
  del argv  # cli.parse_flags leaves only the program name.
  cli.set_up_jax()
  try:
    import gradio  # noqa: F401
  except ImportError:
    sys.exit("error: the demo needs Gradio: pip install -e '.[demo]'")
  try:
    service = PosterService(FLAGS.pretrained)
  except errors.UserError as e:
    sys.exit(f"error: {e}")
  print(f"Serving {' → '.join(service.stage_names)} on http://{FLAGS.host}:{FLAGS.port}")
  build(service).launch(server_name=FLAGS.host, server_port=FLAGS.port)


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)
