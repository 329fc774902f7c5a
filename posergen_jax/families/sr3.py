"""SR3 super-resolution family: pure init/train/eval/sample functions for the trainer."""

from collections.abc import Callable
import functools

import jax
import jax.numpy as jnp
import ml_collections
import optax

from posergen_jax.data import preprocess
from posergen_jax.diffusion import losses, samplers, schedules
from posergen_jax.evaluation import image_metrics, report
from posergen_jax.io import errors
from posergen_jax.io import images as image_io
from posergen_jax.models import sr3_unet
from posergen_jax.training import family, optimizers, train_state


def make_model(config: ml_collections.ConfigDict, **options) -> sr3_unet.UNet:
  """The U-Net described by `config.model` (and `config.diffusion.cond_aug`); `options` set
  further UNet attributes (e.g. text_conditioning=True)."""
  m = config.model
  return sr3_unet.UNet(
      ch=m.ch,
      ch_mult=tuple(m.ch_mult),
      num_res_blocks=m.num_res_blocks,
      attn_resolutions=tuple(m.attn_resolutions),
      dropout=m.dropout,
      num_groups=m.num_groups,
      resblock_updown=m.resblock_updown,
      skip_rescale=m.skip_rescale,
      remat=m.remat,
      cond_augmentation=config.diffusion.cond_aug.max_level > 0,
      dtype=jnp.dtype(m.dtype),
      **options,
  )


def schedule_from_config(config: ml_collections.ConfigDict) -> schedules.Schedule:
  """The schedule a `diffusion.*_schedule` section (name, num_steps, start, end) describes."""
  return schedules.make_schedule(config.name, config.num_steps, start=config.start, end=config.end)


def sampling_steps(config: ml_collections.ConfigDict) -> int:
  """How many denoising steps `make_sampler(config)` takes."""
  d = config.diffusion
  if d.sample_steps is not None:
    return d.sample_steps
  schedule = d.sample_schedule if d.sampler == "ddpm" else d.train_schedule
  return schedule.num_steps


def make_sampler(config: ml_collections.ConfigDict) -> Callable[..., jax.Array]:
  """The sampler `config.diffusion` names: (denoise_fn, cond [B,H,W,Cc], rng) -> [B,H,W,3].

  'ddpm': ancestral sampling over `sample_schedule` (SR3's inference schedule), respaced to
  `sample_steps` steps when set. 'ddim': DDIM over the training schedule in `sample_steps` steps
  (all of them when unset) with noise scale `ddim_eta`.
  """
  d = config.diffusion
  if d.sampler == "ddpm":
    schedule = schedule_from_config(d.sample_schedule)
    if d.sample_steps is not None:
      schedule = schedules.respace(schedule, d.sample_steps)
    return functools.partial(samplers.ddpm_sample, schedule=schedule, prediction=d.prediction)
  if d.sampler == "ddim":
    return functools.partial(
        samplers.ddim_sample,
        schedule=schedule_from_config(d.train_schedule),
        num_steps=d.sample_steps,
        eta=d.ddim_eta,
        prediction=d.prediction,
    )
  raise errors.ConfigError(
      f"config.diffusion.sampler={d.sampler!r} is not one of {samplers.SAMPLERS}."
  )


def make_family(config: ml_collections.ConfigDict) -> family.Family:
  """Builds the SR3 family from the full config (model, diffusion, optimizer, ema, data)."""
  model = make_model(config)
  diffusion = config.diffusion
  train_schedule = schedule_from_config(diffusion.train_schedule)
  sampler = make_sampler(config)
  tx, learning_rate_fn = optimizers.make_optimizer(config.optimizer)
  augment = diffusion.cond_aug.max_level > 0

  def denoise_fn(params, aug_level=None, *, train=False, dropout_rng=None):
    rngs = {"dropout": dropout_rng} if train else None
    return lambda x, cond, level: model.apply(
        {"params": params}, x, cond, level, aug_level, train=train, rngs=rngs
    )

  def augmented(cond, rng, aug_level):
    """(cond, aug_level) as the network sees them: noised when augmentation is on, else as is."""
    if not augment:
      return cond, None
    return losses.augment_condition(cond, aug_level, rng), aug_level

  def init_state(rng, batch):
    target = batch["target"]
    levels = jnp.ones(target.shape[:1], jnp.float32)
    params = model.init(
        {"params": rng}, target, batch["cond"], levels, levels if augment else None, train=False
    )["params"]
    return train_state.TrainState.create(params=params, tx=tx)

  def train_step(state, batch, rng):
    noise_rng, dropout_rng, aug_rng, level_rng = jax.random.split(
        jax.random.fold_in(rng, state.step), 4
    )
    aug_level = jax.random.uniform(
        level_rng, batch["cond"].shape[:1], jnp.float32, 0.0, diffusion.cond_aug.max_level
    )
    cond, aug_level = augmented(batch["cond"], aug_rng, aug_level)

    def loss_fn(params):
      return losses.sr3_loss(
          denoise_fn(params, aug_level, train=True, dropout_rng=dropout_rng),
          batch["target"],
          cond,
          noise_rng,
          train_schedule,
          loss_type=diffusion.loss_type,
          prediction=diffusion.prediction,
          weighting=diffusion.weighting,
      )

    (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    state = state.apply_gradients(grads, ema_decay=config.ema.decay)
    return state, {**aux, "grad_norm": optax.global_norm(grads)}

  def sample(params, batch, rng):
    """SR3 samples [B,H,W,3] for `batch["cond"]`, at the fixed sampling augmentation level."""
    aug_rng, sample_rng = jax.random.split(rng)
    aug_level = jnp.full(batch["cond"].shape[:1], diffusion.cond_aug.sample_level, jnp.float32)
    cond, aug_level = augmented(batch["cond"], aug_rng, aug_level)
    return sampler(denoise_fn(params, aug_level), cond, sample_rng)

  def eval_step(params, batch, rng):
    """SR3 samples and the bicubic baseline, each scored against the target; the samples and
    targets are also returned as the generated and real images (FID/KID)."""
    prediction = sample(params, batch, rng)
    sr = image_metrics.psnr_ssim(prediction, batch["target"])
    bicubic = image_metrics.psnr_ssim(batch["cond"], batch["target"])
    return {
        **{f"sr3_{k}": v for k, v in sr.items()},
        **{f"bicubic_{k}": v for k, v in bicubic.items()},
        report.GENERATED: prediction,
        report.REAL: batch["target"],
    }

  def sample_columns(params, batch, rng):
    """Low-res (nearest-upsampled) | SR3 sample | ground truth."""
    lowres = image_io.nearest_resize(batch["lowres"], batch["target"].shape[1])
    return [lowres, sample(params, batch, rng), batch["target"]]

  d = config.data
  return family.Family(
      make_preprocess=lambda train: preprocess.sr_pairs(
          image_key=d.image_key,
          hr_size=d.hr_size,
          lr_size=d.lr_size,
          random_flip=train and d.random_flip,
      ),
      init_state=init_state,
      train_step=train_step,
      eval_step=eval_step,
      sample=sample,
      sample_columns=sample_columns,
      learning_rate_fn=learning_rate_fn,
  )
