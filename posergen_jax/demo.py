r"""A web demo: prompt → poster in the browser, from an exported pipeline (Gradio).

  python -m posergen_jax.demo --pretrained=pretrained/gan_sr3 [--port=7860] [--host=127.0.0.1]

Then open http://127.0.0.1:7860. A prompt (Chinese or English), an optional title and subtitle,
a seed, the super-resolution sampler and its steps → the poster and the seconds each stage took.
The poster equals `python -m posergen_jax.generate --pretrained=DIR --prompt=P --seed=S` (same
sampler and steps) pixel for pixel; bad input shows the one-line error `generate` prints.
Needs the `demo` extra: pip install -e '.[demo]'.
"""

import os
import sys

from absl import app, flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # Nothing leaves the machine.

from posergen_jax import cli  # noqa: E402
from posergen_jax.data.synthetic_posters import captions, render, synthetic_posters  # noqa: E402
from posergen_jax.diffusion import samplers  # noqa: E402
from posergen_jax.io import errors  # noqa: E402
from posergen_jax.poster import service as service_lib  # noqa: E402

FLAGS = flags.FLAGS


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


def build(service: service_lib.PosterService):
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
        seed = gr.Number(
            label="Seed", value=0, precision=0, minimum=0, maximum=service_lib.MAX_SEED
        )
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
    service = service_lib.PosterService(FLAGS.pretrained)
  except errors.UserError as e:
    sys.exit(f"error: {e}")
  print(f"Serving {' → '.join(service.stage_names)} on http://{FLAGS.host}:{FLAGS.port}")
  build(service).launch(server_name=FLAGS.host, server_port=FLAGS.port)


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)
