"""The web demo (python -m posergen_jax.demo): its poster service (poster/service.py) against
`generate`, Gradio's client against a local server, and a real headless browser (Debian's
chromium via Playwright)."""

import io
import os
import pathlib

import numpy as np
from PIL import Image
import pytest

from posergen_jax import demo
from posergen_jax.io import errors
from posergen_jax.poster import outputs, pipeline, pretrained
from posergen_jax.poster import service as poster_service
from posergen_jax.text import zh_student
from tests import helpers

PROMPT = "一张红色圆形的极简海报"
# Debian's chromium; CI installs it and sets POSERGEN_REQUIRE_BROWSER=1, so there the browser
# test fails rather than skips when it is missing.
CHROMIUM = pathlib.Path("/usr/bin/chromium")
# Chromium on a machine with no network and no display, as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def exported(gan_sr3_trained, tmp_path_factory):
  """configs/gan_sr3.py:quick, each stage trained one step, exported as export does."""
  config, workdir = gan_sr3_trained
  out = tmp_path_factory.mktemp("exported")
  with pipeline.PosterPipeline(config, str(workdir)) as posters:
    card = pretrained.model_card(posters.stages, {})
    pretrained.save(posters.stages, out, dtype="float32", evals={}, card=card)
  return str(out)


@pytest.fixture(scope="module")
def service(exported):
  service = poster_service.PosterService(exported)
  yield service
  service.close()


def _generated(directory, tmp_path, title=None, **sampling) -> np.ndarray:
  """The poster `generate --pretrained=directory --prompt=PROMPT --seed=3` writes."""
  with pipeline.PosterPipeline.from_pretrained(directory, **sampling) as posters:
    outputs.write_posters(posters, [PROMPT], tmp_path, seed=3, batch_size=1, title=title)
  return np.asarray(Image.open(tmp_path / "0000.png"))


def test_the_poster_equals_generates_pixel_for_pixel(service, exported, tmp_path):
  image, seconds = service.poster(PROMPT, seed=3)
  assert image.dtype == np.uint8 and image.shape == (32, 32, 3)
  np.testing.assert_array_equal(image, _generated(exported, tmp_path / "plain"))
  assert list(seconds) == ["wgan", "sr3_128", "sr3_256"]
  titled, _ = service.poster(PROMPT, title="夏日", seed=3, sampler="ddim", steps=2)
  want = _generated(exported, tmp_path / "titled", title="夏日", sampler="ddim", steps=2)
  np.testing.assert_array_equal(titled, want)
  assert not np.array_equal(titled, image)


def test_pipelines_are_kept_per_sampling_and_the_oldest_closed(service, monkeypatch):
  service.poster(PROMPT, steps=1)
  oldest = service._open[(service.default_sampler, 1)]
  closed = []
  close = oldest.close
  monkeypatch.setattr(oldest, "close", lambda: (closed.append(oldest), close()))
  for steps in (2, 3, 2):
    service.poster(PROMPT, steps=steps)
  assert list(service._open) == [(service.default_sampler, 3), (service.default_sampler, 2)]
  assert closed == [oldest]  # Evicted when the third opened, and closed then.


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"prompt": ""}, "prompt 0 '' is empty or whitespace-only"),
        ({"steps": 0}, "steps must be at least 1; got 0."),
        ({"sampler": "euler"}, "sampler 'euler' is not one of"),
        ({"seed": -1}, "seed=-1: must be an integer in [0, 4294967295]."),
        ({"seed": 1.5}, "seed=1.5: must be an integer"),
        ({"seed": float("nan")}, "seed=nan: must be an integer"),
        ({"subtitle": "Summer"}, "A subtitle needs a title"),
    ],
    ids=lambda x: next(iter(x)) if isinstance(x, dict) else None,
)
def test_bad_input_is_one_line_naming_it(service, inputs, message):
  with pytest.raises(errors.InputError) as raised:
    service.poster(**{"prompt": PROMPT, **inputs})
  assert message in str(raised.value) and "\n" not in str(raised.value)


@pytest.fixture(scope="module")
def server(service):
  """The demo page served on a free local port: its URL."""
  page = demo.build(service)
  port = helpers.free_port()
  page.launch(
      server_name="127.0.0.1",
      server_port=port,
      prevent_thread_lock=True,
      quiet=True,
      ssr_mode=False,
  )
  yield f"http://127.0.0.1:{port}/"
  page.close()


def test_gradio_client_gets_the_poster_and_the_one_line_error(server, service):
  from gradio_client import Client, exceptions

  client = Client(server, verbose=False)
  path, seconds = client.predict(PROMPT, "", "", 3, "ddpm", 2, api_name="/generate")
  want, _ = service.poster(PROMPT, seed=3, sampler="ddpm", steps=2)
  np.testing.assert_array_equal(np.asarray(Image.open(path).convert("RGB")), want)
  assert seconds.startswith("wgan ") and " · sr3_256 " in seconds
  with pytest.raises(exceptions.AppError) as raised:
    client.predict("  ", "", "", 3, "ddpm", 2, api_name="/generate")
  with pytest.raises(errors.InputError) as direct:
    service.poster("  ")
  assert str(raised.value) == str(direct.value)


def test_a_browser_submits_a_prompt_and_shows_the_poster(server, service, tmp_path):
  if not CHROMIUM.exists():
    if os.environ.get("POSERGEN_REQUIRE_BROWSER", "0") != "0":
      pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
  from playwright import sync_api

  with sync_api.sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
      page = browser.new_page()
      page.goto(server)
      page.locator("#prompt textarea").fill(PROMPT)
      page.locator("#generate").click()
      poster = page.locator("#poster img")
      poster.wait_for(timeout=120_000)
      shown = np.asarray(
          Image.open(io.BytesIO(page.request.get(poster.get_attribute("src")).body()))
      )
      want, _ = service.poster(PROMPT, seed=0)
      np.testing.assert_array_equal(shown[..., :3], want)
      assert "sr3_256" in page.locator("#seconds textarea").input_value()
      # Bad input: the same one-line error, shown on the page.
      page.locator("#prompt textarea").fill(" ")
      page.locator("#generate").click()
      page.get_by_text("is empty or whitespace-only").first.wait_for(timeout=60_000)
      page.screenshot(path=tmp_path / "demo.png")
    finally:
      browser.close()


def test_example_prompts_are_test_captions_of_both_languages(tiny_data_dir):
  import tensorflow_datasets as tfds

  prompts = demo.example_prompts(4)
  assert [zh_student.has_cjk(p) for p in prompts] == [True, False, True, False]
  # The test split of any synthetic_posters size holds the same posters and captions.
  test = tfds.as_numpy(tfds.load("synthetic_posters/tiny", split="test", data_dir=tiny_data_dir))
  by_id = {ex["id"].decode(): [c.decode() for c in ex["captions"]] for ex in test}
  for i, prompt in enumerate(prompts):
    assert prompt in by_id[f"test_{i:06d}"]
