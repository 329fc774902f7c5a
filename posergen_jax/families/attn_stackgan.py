"""Gt-StackGAN family: StackGAN++ with dual attention and a VGG fidelity loss, for the trainer.

One train step is one discriminator update then one generator update, as in StackGAN++:
1. G (train mode) draws images at every scale from z ~ N(0, I) and the text code; its outputs and
   their pullback (`jax.vjp`) are kept, so G runs forward once per step.
2. Every scale's D scores (real, text), (another class's real image, text) and (fake, text) with
   the fakes and CA mean under stop_gradient; the summed losses update all Ds at once. With Adam
   and no gradient clipping this equals StackGAN++'s one optimizer per D (Adam is per-parameter).
3. The updated Ds score the same fakes with the (differentiable) CA mean; G's loss adds the KL
   term, the optional colour-consistency term and, when `config.model.vgg` names weights,
   µ times the L1 distance of frozen VGG features of the top-scale fake and real images.
The Ds see batch statistics in both updates (torch's train mode); only the D update keeps their
new running statistics. Sampling and evaluation run the EMA generator in inference mode.
"""

from collections.abc import Sequence
import functools

import jax
import jax.numpy as jnp
import ml_collections
import optax
import tensorflow as tf

from posergen_jax.config import schema
from posergen_jax.data import preprocess
from posergen_jax.data.preprocess import image_key_for_size as image_key
from posergen_jax.evaluation import image_metrics, report
from posergen_jax.families import gan_state
from posergen_jax.io import errors
from posergen_jax.io import images as image_io
from posergen_jax.models import dual_attention, stackgan, stackgan_losses, vgg
from posergen_jax.text import conditioning
from posergen_jax.training import family

# The class feature every text-image dataset here has (ClassLabel; -1: none): mismatched pairs
# take a real image of another class.
LABEL = "label"
# config.model.vgg values besides "vgg19:<path to a torchvision .pth>".
VGG_NONE = "none"
VGG16_LPIPS = "vgg16_lpips"
VGG19_PREFIX = "vgg19:"
# `config.model.vgg`: see `make_vgg_features`.
VGG = schema.Rule(
    lambda v: isinstance(v, str)
    and (
        v in (VGG_NONE, VGG16_LPIPS) or (v.startswith(VGG19_PREFIX) and len(v) > len(VGG19_PREFIX))
    ),
    f"'{VGG_NONE}', '{VGG16_LPIPS}' or '{VGG19_PREFIX}<path to a torchvision VGG19 .pth>'",
)
# Every field the family reads beyond the data, text and trainer sections (config/schema.py).
FIELD_RULES = {
    **gan_state.FIELD_RULES,
    "model.num_stages": schema.POSITIVE,
    "model.attention": schema.one_of(dual_attention.ATTENTION_MODES),
    "model.vgg": VGG,
    "model.vgg_layers": schema.optional(schema.POSITIVE),
    "loss.uncond_weight": schema.NOT_NEGATIVE,
    "loss.fidelity_weight": schema.NOT_NEGATIVE,
    "loss.fidelity_reduction": schema.one_of(stackgan_losses.FIDELITY_REDUCTIONS),
    "loss.color_weight": schema.NOT_NEGATIVE,
}


def image_sizes(num_stages: int) -> list[int]:
  """Side of each generator stage's image: 64, 128, 256, ..."""
  return [stackgan.BASE_IMAGE_SIZE * 2**i for i in range(num_stages)]


def check_fields(fields: schema.Fields) -> None:
  """Raises ConfigError unless `model.gf_dim` (when present) halves at each of the generator's
  `model.num_stages - 1` upsamplings."""
  v = fields.values
  if "model.num_stages" in v and v["model.gf_dim"] % 2 ** (v["model.num_stages"] - 1):
    raise fields.fail(
        "model.gf_dim",
        f"a multiple of 2**(model.num_stages - 1)={2 ** (v['model.num_stages'] - 1)}",
    )


def make_generator(config: ml_collections.ConfigDict) -> stackgan.Generator:
  """The generator `config.model` describes."""
  m = config.model
  return stackgan.Generator(
      gf_dim=m.gf_dim,
      c_dim=m.c_dim,
      num_stages=m.num_stages,
      attention=m.attention,
      dtype=jnp.dtype(m.dtype),
  )


def make_discriminators(config: ml_collections.ConfigDict) -> dict[str, stackgan.Discriminator]:
  """One discriminator per generator stage, keyed by its image side as a string."""
  m = config.model
  return {
      str(size): stackgan.Discriminator(size, m.df_dim, jnp.dtype(m.dtype))
      for size in image_sizes(m.num_stages)
  }


def make_vgg_features(config: ml_collections.ConfigDict):
  """The frozen VGG feature extractor `config.vgg` names, or None for 'none'.

  Args:
    config: the `model` section: vgg ('vgg16_lpips' | 'vgg19:<torchvision .pth>' | 'none') and
      vgg_layers (torchvision layers to run; None for the paper's cut, 35 for VGG19 and its
      analogue 29 for VGG16).

  Returns:
    images [B,H,W,3] in [-1, 1] -> float32 features [B,h,w,C], or None. The weights are loaded
    now and held as constants of the jitted step.
  """
  spec = config.vgg
  if spec == VGG_NONE:
    return None
  if spec == VGG16_LPIPS:
    model = vgg.vgg16(config.vgg_layers or vgg.VGG16_NUM_LAYERS)
    params = vgg.load_lpips_vgg16(model)
  elif spec.startswith(VGG19_PREFIX):
    model = vgg.vgg19(config.vgg_layers or vgg.VGG19_NUM_LAYERS)
    params = vgg.load_torchvision(model, spec[len(VGG19_PREFIX) :])
  else:
    raise errors.ConfigError(
        f"config.model.vgg={spec!r} is not '{VGG_NONE}', '{VGG16_LPIPS}' or "
        f"'{VGG19_PREFIX}<path to a torchvision VGG19 .pth>'."
    )
  params = jax.tree.map(jnp.asarray, params)
  return lambda images: model.apply({"params": params}, images)


def make_family(config: ml_collections.ConfigDict) -> family.Family:
  """The Gt-StackGAN family from the full config (data, text, model, loss, optimizer, ema)."""
  sizes = image_sizes(config.model.num_stages)
  generator = make_generator(config)
  discriminators = make_discriminators(config)
  text = conditioning.make_text_conditioning(config.text, data=config.data)
  vgg_features = make_vgg_features(config.model)
  txs, learning_rate_fn = gan_state.make_optimizers(config.optimizer, config.train.num_steps)
  weights = config.loss
  fidelity_weight = weights.fidelity_weight if vgg_features is not None else 0.0

  noise = functools.partial(
      gan_state.generator_noise, z_dim=config.model.z_dim, c_dim=config.model.c_dim
  )

  def init_state(rng, batch):
    gen_rng, noise_rng, *disc_rngs = jax.random.split(rng, 2 + len(sizes))
    sentence = text.encode(batch)
    z, eps = noise(noise_rng, sentence.shape[0])
    gen_vars = generator.init(gen_rng, z, sentence, eps, train=False)
    disc_vars = {
        name: d.init(key, batch[image_key(d.image_size)], eps, train=False)
        for key, (name, d) in zip(disc_rngs, discriminators.items())
    }
    return gan_state.GanState.create(
        params={
            gan_state.GEN: gen_vars["params"],
            gan_state.DISC: {k: v["params"] for k, v in disc_vars.items()},
        },
        batch_stats={
            gan_state.GEN: gen_vars["batch_stats"],
            gan_state.DISC: {k: v["batch_stats"] for k, v in disc_vars.items()},
        },
        txs=txs,
    )

  def discriminate(name, variables, images, code):
    """D_name in train mode: (cond, uncond) logits [B] each, and its new batch statistics."""
    return gan_state.apply_in_train_mode(discriminators[name], variables, images, code)

  def disc_loss(params, batch_stats, reals, fakes, mu, wrong):
    """Summed StackGAN++ D losses over scales -> (loss, (new batch stats, per-scale losses));
    `wrong` [B] indexes each sample's mismatched real image."""
    new_stats, losses = {}, {}
    for size, real, fake in zip(sizes, reals, fakes):
      name, logits = str(size), []
      stats = batch_stats[name]
      for images, code in ((real, mu), (real[wrong], mu), (fake, mu)):
        pair_logits, stats = discriminate(
            name, {"params": params[name], "batch_stats": stats}, images, code
        )
        logits.append(pair_logits)
      new_stats[name] = stats
      losses[f"d_loss_{size}"] = stackgan_losses.discriminator_loss(
          *logits, uncond_weight=weights.uncond_weight
      )
    return sum(losses.values()), (new_stats, losses)

  def gen_loss(fake, disc_params, disc_stats, real_features):
    """StackGAN++ G loss (+ fidelity) of the outputs `fake` = (images, mu, logvar)."""
    images, mu, logvar = fake
    fake_logits = [
        discriminate(
            name, {"params": disc_params[name], "batch_stats": disc_stats[name]}, image, mu
        )[0]
        for name, image in zip(map(str, sizes), images)
    ]
    fake_features = vgg_features(images[-1]) if fidelity_weight else None
    return stackgan_losses.generator_loss(
        fake_logits,
        mu,
        logvar,
        images,
        fake_features,
        real_features,
        uncond_weight=weights.uncond_weight,
        kl_weight=weights.kl_weight,
        color_weight=weights.color_weight,
        fidelity_weight=fidelity_weight,
        fidelity_reduction=weights.fidelity_reduction,
    )

  def train_step(state, batch, rng):
    sentence = text.encode(batch)
    z, eps = noise(jax.random.fold_in(rng, state.step), sentence.shape[0])
    reals = [batch[image_key(size)] for size in sizes]

    def generate(gen_params):
      variables = {"params": gen_params, "batch_stats": state.batch_stats[gan_state.GEN]}
      return gan_state.apply_in_train_mode(generator, variables, z, sentence, eps)

    fake, gen_pullback, gen_stats = jax.vjp(generate, state.params[gan_state.GEN], has_aux=True)
    images, mu, _ = jax.lax.stop_gradient(fake)
    (d_loss, (disc_stats, d_terms)), d_grads = jax.value_and_grad(disc_loss, has_aux=True)(
        state.params[gan_state.DISC],
        state.batch_stats[gan_state.DISC],
        reals,
        images,
        mu,
        stackgan_losses.mismatched_indices(batch[LABEL]),
    )
    state = state.apply_disc_gradients(d_grads, batch_stats=disc_stats)

    real_features = vgg_features(reals[-1]) if fidelity_weight else None
    (g_loss, g_terms), fake_grads = jax.value_and_grad(gen_loss, has_aux=True)(
        fake, state.params[gan_state.DISC], state.batch_stats[gan_state.DISC], real_features
    )
    (g_grads,) = gen_pullback(fake_grads)
    state = state.apply_gen_gradients(g_grads, batch_stats=gen_stats, ema_decay=config.ema.decay)
    return state, {
        "d_loss": d_loss,
        "g_loss": g_loss,
        **d_terms,
        **g_terms,
        "d_grad_norm": optax.global_norm(d_grads),
        "g_grad_norm": optax.global_norm(g_grads),
    }

  def generate_all(params, batch, rng) -> list[jax.Array]:
    """The EMA generator's images at every scale, [B,S_i,S_i,3] in [-1, 1]."""
    sentence = text.encode(batch)
    z, eps = noise(rng, sentence.shape[0])
    images, _, _ = generator.apply(params, z, sentence, eps, train=False)
    return images

  def eval_step(params, batch, rng):
    """PSNR and SSIM [B] of each scale's generated image against the real one at that scale,
    and the top-scale generated and real images (FID/KID)."""
    images = generate_all(params, batch, rng)
    metrics = {}
    for size, image in zip(sizes, images):
      scores = image_metrics.psnr_ssim(image, batch[image_key(size)])
      metrics.update({f"{name}_{size}": value for name, value in scores.items()})
    return {**metrics, report.GENERATED: images[-1], report.REAL: batch[image_key(sizes[-1])]}

  def sample_columns(params, batch, rng) -> Sequence[jax.Array]:
    """Real image | generated image of each scale, all nearest-resized to the top scale."""
    top = sizes[-1]
    return [
        batch[image_key(top)],
        *(image_io.nearest_resize(image, top) for image in generate_all(params, batch, rng)),
    ]

  def make_preprocess(train):
    """Real images at every scale, the text features and the class label (mismatched pairs)."""
    images_and_text = preprocess.text_to_image(
        image_key=config.data.image_key,
        sizes=sizes,
        random_flip=train and config.data.random_flip,
        text_preprocess=text.preprocess_fn(train),
    )
    return lambda example, seed: {
        **images_and_text(example, seed),
        LABEL: tf.cast(example[LABEL], tf.int32),
    }

  return family.Family(
      make_preprocess=make_preprocess,
      init_state=init_state,
      train_step=train_step,
      eval_step=eval_step,
      sample=lambda params, batch, rng: generate_all(params, batch, rng)[-1],
      sample_columns=sample_columns,
      learning_rate_fn=learning_rate_fn,
  )
