r"""How much of the Gt-StackGAN generator's gradient the VGG fidelity term gives, per reduction.

  python benchmarks/stackgan_fidelity_share.py --config=configs/attn_stackgan.py --train_steps=50

Builds the family as `main` does, trains it for `--train_steps` steps on the config's data (the
discriminators must have learnt something for their gradient to mean anything), then, on the
next training batches, takes the gradient with respect to the generator's top-scale image of
- the top-scale discriminator's adversarial terms (cond + uncond_weight · uncond), and
- µ · fidelity_loss(VGG(fake), VGG(real)) for each reduction of `stackgan_losses.fidelity_loss`,
and prints their weighted values and gradient norms (median over `--batches` batches) as a
markdown table. The ratio column is the fidelity gradient's norm over the adversarial one's: at
~0.01 the fidelity term cannot steer training, far above 1 it turns the GAN into a regression.
"""

import argparse
from pathlib import Path
import sys

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # `benchmarks` when run as a script.

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from benchmarks import cpu_kernels  # noqa: E402
from posergen_jax import cli, configs  # noqa: E402
from posergen_jax.families import attn_stackgan, gan_state, registry  # noqa: E402
from posergen_jax.models import stackgan_losses  # noqa: E402
from posergen_jax.text import conditioning  # noqa: E402
from posergen_jax.training import sharding  # noqa: E402


def make_term_gradients(config):
  """A jitted fn(state, batch, rng) -> {term: (weighted value, norm of its gradient at the top
  image [B,S,S,3])} for "adversarial" and "fidelity_<reduction>" of every reduction."""
  generator = attn_stackgan.make_generator(config)
  top_size = attn_stackgan.image_sizes(config.model.num_stages)[-1]
  discriminator = attn_stackgan.make_discriminators(config)[str(top_size)]
  vgg_features = attn_stackgan.make_vgg_features(config.model)
  if vgg_features is None:
    raise SystemExit(f"error: config.model.vgg={config.model.vgg!r}: no fidelity term to measure.")
  text = conditioning.make_text_conditioning(config.text, data=config.data)
  weights = config.loss

  def term_gradients(state, batch, rng):
    sentence = text.encode(batch)
    z, eps = gan_state.generator_noise(
        rng, sentence.shape[0], z_dim=config.model.z_dim, c_dim=config.model.c_dim
    )
    gen_variables = {
        "params": state.params[gan_state.GEN],
        "batch_stats": state.batch_stats[gan_state.GEN],
    }
    (images, mu, _), _ = gan_state.apply_in_train_mode(generator, gen_variables, z, sentence, eps)
    disc_variables = {
        "params": state.params[gan_state.DISC][str(top_size)],
        "batch_stats": state.batch_stats[gan_state.DISC][str(top_size)],
    }

    def adversarial(image):
      logits, _ = gan_state.apply_in_train_mode(discriminator, disc_variables, image, mu)
      return stackgan_losses.generator_adversarial_loss(logits, weights.uncond_weight)

    real_features = vgg_features(batch[attn_stackgan.image_key(top_size)])
    terms = {"adversarial": adversarial}
    for reduction in stackgan_losses.FIDELITY_REDUCTIONS:
      terms[f"fidelity_{reduction}"] = lambda image, reduction=reduction: (
          weights.fidelity_weight
          * stackgan_losses.fidelity_loss(vgg_features(image), real_features, reduction)
      )
    results = {}
    for name, term in terms.items():
      value, grad = jax.value_and_grad(term)(images[-1])
      results[name] = (value, optax.global_norm(grad))
    return results

  return jax.jit(term_gradients)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--config", default="configs/attn_stackgan.py", help="config file[:arg]")
  parser.add_argument("--train_steps", type=int, default=50, help="steps trained first")
  parser.add_argument("--batches", type=int, default=4, help="batches measured (median)")
  parser.add_argument(
      "--vgg_layers",
      type=int,
      default=None,
      help="overrides config.model.vgg_layers; 0: the paper's cut",
  )
  cpu_kernels.add_argument(parser)
  args = parser.parse_args()
  cli.use_onednn_on_cpu(args.cpu_onednn)
  config = configs.load(args.config)
  if args.vgg_layers is not None:
    config.model.vgg_layers = args.vgg_layers or None
  family = registry.get_family(config)
  shardings = sharding.make_shardings(sharding.make_mesh(config.mesh), config.fsdp)
  batches = cpu_kernels.train_batches(config, family, shardings)
  rng = jax.random.key(config.seed)
  step, state = cpu_kernels.jitted_train_step(family, shardings, next(batches))
  for i in range(args.train_steps):
    state, _ = step(state, next(batches), jax.random.fold_in(rng, i))
  measure = make_term_gradients(config)
  rows = [
      jax.device_get(measure(state, next(batches), jax.random.fold_in(rng, args.train_steps + i)))
      for i in range(args.batches)
  ]
  median = {
      name: [float(np.median([row[name][k] for row in rows])) for k in (0, 1)] for name in rows[0]
  }
  adversarial_norm = median["adversarial"][1]
  vgg_layers = config.model.vgg_layers or "the paper's cut"
  print(
      f"\n{args.config}: µ = {config.loss.fidelity_weight}, VGG {config.model.vgg} "
      f"({vgg_layers} layers), top scale "
      f"{attn_stackgan.image_sizes(config.model.num_stages)[-1]}², batch "
      f"{config.train.batch_size}, after {args.train_steps} train steps, median of "
      f"{args.batches} batches:\n"
  )
  print("| term | weighted value | gradient norm at the top image | ratio to adversarial |")
  print("|---|---|---|---|")
  for name, (value, norm) in median.items():
    print(f"| {name} | {value:.4g} | {norm:.4g} | {norm / adversarial_norm:.3g} |")


if __name__ == "__main__":
  main()
