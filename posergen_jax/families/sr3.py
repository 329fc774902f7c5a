"""SR3 super-resolution family: pure init/train/eval/sample functions for the trainer."""

from collections.abc import Callable
import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from posergen_jax.config import schema
from posergen_jax.data import preprocess
from posergen_jax.diffusion import losses, parameterization, residual, samplers, schedules
from posergen_jax.evaluation import image_metrics, lpips, report
from posergen_jax.io import errors
from posergen_jax.io import images as image_io
from posergen_jax.models import sr3_unet
from posergen_jax.training import family, microbatches, optimizers, train_state

# What the network diffuses (`config.diffusion.target`): see `make_family`.
TARGETS = ("residual", "image")
# `config.diffusion.colour_fix`: a sample takes the bicubic mean colour ("mean"), or not.
COLOUR_FIXES = ("mean", "none")
# Where training draws noise levels (`config.diffusion.train_levels`): see `training_log_snr_range`.
TRAIN_LEVELS = ("sampler", "schedule")

# The U-Net `make_model` builds (config/schema.py).
UNET_RULES = {
    "model.dtype": schema.DTYPE,
    "model.ch": schema.POSITIVE,
    "model.ch_mult": schema.integers(1),
    "model.num_res_blocks": schema.POSITIVE,
    "model.attn_resolutions": schema.integers(1, may_be_empty=True),
    "model.dropout": schema.PROBABILITY_BELOW_ONE,
    "model.num_groups": schema.POSITIVE,
    "model.resblock_updown": schema.BOOL,
    "model.skip_rescale": schema.BOOL,
    "model.remat": schema.one_of(sr3_unet.REMAT_POLICIES),
    "model.noise_embedding": schema.one_of(sr3_unet.NOISE_EMBEDDINGS),
}
# A noise schedule (`schedule_from_config`).
SCHEDULE_RULES = {
    "name": schema.one_of(schedules.SCHEDULE_NAMES),
    "num_steps": schema.POSITIVE,
    "start": schema.number(0, 1, open_low=True, open_high=True),
    "end": schema.number(0, 1, open_low=True, open_high=True),
}
# The `diffusion` fields of every family trained with SR3's loss and samplers.
DIFFUSION_RULES = {
    **schema.prefixed("diffusion.train_schedule", SCHEDULE_RULES),
    **schema.prefixed("diffusion.sample_schedule", SCHEDULE_RULES),
    "diffusion.train_levels": schema.one_of(TRAIN_LEVELS),
    "diffusion.loss_type": schema.one_of(losses.LOSS_TYPES),
    "diffusion.prediction": schema.one_of(parameterization.PREDICTIONS),
    "diffusion.weighting": schema.one_of(losses.WEIGHTINGS),
    "diffusion.sampler": schema.one_of(samplers.SAMPLERS),
    "diffusion.sample_steps": schema.optional(schema.POSITIVE),
    "diffusion.ddim_eta": schema.FRACTION,
    "diffusion.cond_aug.max_level": schema.FRACTION,
    "diffusion.cond_aug.sample_level": schema.FRACTION,
    "diffusion.colour_fix": schema.one_of(COLOUR_FIXES),
}
# Every field SR3 reads beyond the data, optimizer and trainer sections (config/schema.py).
FIELD_RULES = {
    **UNET_RULES,
    **DIFFUSION_RULES,
    "diffusion.target": schema.one_of(TARGETS),
    "diffusion.residual_scale": schema.number(0, open_low=True),
    "data.hr_size": schema.POSITIVE,
    "data.lr_size": schema.POSITIVE,
    "data.dead_leaves": schema.FRACTION,
    "evals.lpips": schema.BOOL,
}


def check_fields(fields: schema.Fields) -> None:
  """Raises ConfigError unless the diffusion fields present agree: each schedule's start <= its
  end, `sample_steps` <= the sampler's schedule, `data.lr_size` < `data.hr_size`, and a U-Net's
  image side halves `len(model.ch_mult) - 1` times and its level widths split into
  `model.num_groups` groups."""
  v = fields.values
  for name in ("train_schedule", "sample_schedule"):
    start, end = f"diffusion.{name}.start", f"diffusion.{name}.end"
    if start in v and v[start] > v[end]:
      raise fields.fail(start, f"<= {fields.name(end)}={v[end]!r}")
  if v.get("diffusion.sample_steps") is not None:
    schedule = "sample_schedule" if v["diffusion.sampler"] == "ddpm" else "train_schedule"
    steps = f"diffusion.{schedule}.num_steps"
    if v["diffusion.sample_steps"] > v[steps]:
      raise fields.fail(
          "diffusion.sample_steps", f"<= {fields.name(steps)}={v[steps]} (the sampler's schedule)"
      )
  if "data.lr_size" in v and v["data.lr_size"] >= v["data.hr_size"]:
    raise fields.fail("data.lr_size", f"< {fields.name('data.hr_size')}={v['data.hr_size']}")
  if "model.ch_mult" in v:  # The U-Net (SR3's, or the text DDPM's).
    size = "data.hr_size" if "data.hr_size" in v else "model.image_size"
    halvings = 2 ** (len(v["model.ch_mult"]) - 1)
    if v[size] % halvings:
      raise fields.fail(
          size, f"a multiple of {halvings} (the U-Net halves it {halvings.bit_length() - 1} times)"
      )
    widths = [v["model.ch"] * m for m in v["model.ch_mult"]]
    if any(width % v["model.num_groups"] for width in widths):
      raise fields.fail("model.num_groups", f"a divisor of every level's width {widths}")


def unet_architecture(config: ml_collections.ConfigDict) -> dict:
  """The U-Net's layers as `config.model` (and `config.diffusion.cond_aug`) describe them: the
  keyword arguments the Flax U-Net and its PyTorch twin (benchmarks/torch_sr3_unet.py) share."""
  m = config.model
  return dict(
      ch=m.ch,
      ch_mult=tuple(m.ch_mult),
      num_res_blocks=m.num_res_blocks,
      attn_resolutions=tuple(m.attn_resolutions),
      dropout=m.dropout,
      num_groups=m.num_groups,
      resblock_updown=m.resblock_updown,
      skip_rescale=m.skip_rescale,
      cond_augmentation=config.diffusion.cond_aug.max_level > 0,
  )


def make_model(config: ml_collections.ConfigDict, **options) -> sr3_unet.UNet:
  """The U-Net described by `config.model` (and `config.diffusion.cond_aug`); `options` set
  further UNet attributes (e.g. text_conditioning=True)."""
  m = config.model
  return sr3_unet.UNet(
      **unet_architecture(config),
      remat=m.remat,
      # Configs recorded before the option existed embed the level.
      noise_embedding=m.get("noise_embedding", "level"),
      dtype=jnp.dtype(m.dtype),
      **options,
  )


def schedule_from_config(config: ml_collections.ConfigDict) -> schedules.Schedule:
  """The schedule a `diffusion.*_schedule` section (name, num_steps, start, end) describes."""
  return schedules.make_schedule(config.name, config.num_steps, start=config.start, end=config.end)


def sampling_steps(config: ml_collections.ConfigDict) -> int:
  """How many denoising steps `make_sampler(config)` takes."""
  return sampling_schedule(config.diffusion).num_steps


def sampling_schedule(d: ml_collections.ConfigDict) -> schedules.Schedule:
  """The steps a config's sampler takes, from its `diffusion` section `d`: `sample_schedule`
  (ddpm) or `train_schedule` (ddim), respaced to `sample_steps` when set."""
  if d.sampler not in samplers.SAMPLERS:
    raise errors.ConfigError(
        f"config.diffusion.sampler={d.sampler!r} is not one of {samplers.SAMPLERS}."
    )
  schedule = schedule_from_config(d.sample_schedule if d.sampler == "ddpm" else d.train_schedule)
  if d.sample_steps is not None:
    schedule = schedules.respace(schedule, d.sample_steps)
  return schedule


def make_sampler(config: ml_collections.ConfigDict, **overrides) -> Callable[..., jax.Array]:
  """The sampler `config.diffusion` names: (denoise_fn, cond [B,H,W,Cc], rng, x0_range) ->
  [B,H,W,3]; `overrides` replace fields of `config.diffusion` (e.g. ddim_eta=0.0).

  'ddpm': ancestral sampling over `sample_schedule` (SR3's inference schedule), respaced to
  `sample_steps` steps when set. 'ddim': DDIM over the training schedule in `sample_steps` steps
  (all of them when unset) with noise scale `ddim_eta`.
  """
  d = ml_collections.ConfigDict({**config.diffusion.to_dict(), **overrides})
  schedule = sampling_schedule(d)
  if d.sampler == "ddpm":
    return functools.partial(samplers.ddpm_sample, schedule=schedule, prediction=d.prediction)
  return functools.partial(
      samplers.ddim_sample, schedule=schedule, eta=d.ddim_eta, prediction=d.prediction
  )


def deterministic_sampling(config: ml_collections.ConfigDict) -> dict:
  """The `diffusion` fields that make `config` sample with deterministic DDIM (eta 0) in as many
  steps as its own sampler takes."""
  return dict(sampler="ddim", ddim_eta=0.0, sample_steps=sampling_steps(config))


def training_log_snr_range(config: ml_collections.ConfigDict) -> tuple[float, float] | None:
  """With `diffusion.train_levels='sampler'`: the (lowest, highest) log-SNR of the levels the
  sampler visits, which training then draws uniformly (see `losses.sr3_loss`); else None
  (SR3's levels from the training schedule)."""
  if config.diffusion.train_levels == "schedule":
    return None
  gammas = np.asarray(sampling_schedule(config.diffusion).gammas, np.float64)
  log_snr = np.log(gammas / (1.0 - gammas))
  return float(log_snr.min()), float(log_snr.max())


def make_family(config: ml_collections.ConfigDict) -> family.Family:
  """Builds the SR3 family from the full config (model, diffusion, optimizer, ema, data).

  With `diffusion.target='residual'` the network diffuses (target − cond) / residual_scale, the
  detail the bicubic upsample misses, and a sample is cond + residual_scale × the result; with
  'image' (SR3) it diffuses the target image itself (diffusion/residual.py). With
  `diffusion.colour_fix='mean'` each sample is shifted, per image and channel, to the bicubic
  upsample's mean colour as clipped to [-1, 1] (the low-res input fixes it), so a stage cannot
  tint its output; in a cascade the reference is the cascade's own input upsampled
  (`batch["colour_reference"]`), so the stages cannot drift either.
  """
  model = make_model(config)
  diffusion = config.diffusion
  train_schedule = schedule_from_config(diffusion.train_schedule)
  log_snr_range = training_log_snr_range(config)
  sampler = make_sampler(config)
  # Evaluation also scores the deterministic sampler (DDIM, eta 0) in as many steps.
  deterministic_sampler = make_sampler(config, **deterministic_sampling(config))
  residual_scale = diffusion.residual_scale if diffusion.target == "residual" else None
  # Exported pipelines from before colour_fix existed sample as they were trained: without it.
  mean_colour = diffusion.get("colour_fix", "none") == "mean"
  tx, learning_rate_fn = optimizers.make_optimizer(config.optimizer, config.train.num_steps)
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

  def loss_and_grads(params, batch, rng):
    """(aux metrics, gradients) of the SR3 loss on `batch` (target, cond [b,H,W,3])."""
    noise_rng, dropout_rng, aug_rng, level_rng = jax.random.split(rng, 4)
    aug_level = jax.random.uniform(
        level_rng, batch["cond"].shape[:1], jnp.float32, 0.0, diffusion.cond_aug.max_level
    )
    cond, aug_level = augmented(batch["cond"], aug_rng, aug_level)

    def loss_fn(params):
      return losses.sr3_loss(
          denoise_fn(params, aug_level, train=True, dropout_rng=dropout_rng),
          residual.to_diffused(batch["target"], batch["cond"], residual_scale),
          cond,
          noise_rng,
          train_schedule,
          loss_type=diffusion.loss_type,
          prediction=diffusion.prediction,
          weighting=diffusion.weighting,
          log_snr_range=log_snr_range,
      )

    (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    return aux, grads

  def train_step(state, batch, rng):
    aux, grads = microbatches.mean_over_microbatches(
        loss_and_grads,
        state.params,
        batch,
        jax.random.fold_in(rng, state.step),
        config.train.microbatches,
    )
    state = state.apply_gradients(grads, ema_decay=config.ema.decay)
    return state, {**aux, "grad_norm": optax.global_norm(grads)}

  def sample_with(stage_sampler, params, batch, rng):
    """`stage_sampler`'s images [B,H,W,3] for `batch["cond"]`, at the sampling augmentation
    level; their mean colour is `batch["colour_reference"]`'s where given (a cascade's own
    input, upsampled), else the condition's."""
    aug_rng, sample_rng = jax.random.split(rng)
    base = batch["cond"].astype(jnp.float32)
    aug_level = jnp.full(base.shape[:1], diffusion.cond_aug.sample_level, jnp.float32)
    cond, aug_level = augmented(base, aug_rng, aug_level)
    x0_range = residual.x0_range(base, residual_scale)
    x = stage_sampler(denoise_fn(params, aug_level), cond, sample_rng, x0_range=x0_range)
    reference = batch.get("colour_reference", base) if mean_colour else None
    return residual.from_diffused(x, base, residual_scale, reference)

  def sample(params, batch, rng):
    """SR3 samples [B,H,W,3] for `batch["cond"]`, with the config's sampler."""
    return sample_with(sampler, params, batch, rng)

  def eval_step(params, batch, rng):
    """SR3 samples (the config's sampler, and deterministic DDIM) and the bicubic baseline, each
    scored against the target; the samples, targets and bicubic images are also returned as the
    generated, real and baseline images (FID/KID)."""
    prediction = sample(params, batch, rng)
    deterministic_prediction = sample_with(deterministic_sampler, params, batch, rng)
    sr, deterministic, bicubic = (
        image_metrics.fidelity(images, batch["target"])
        for images in (prediction, deterministic_prediction, batch["cond"])
    )
    return {
        **{f"sr3_{k}": v for k, v in sr.items()},
        **{f"sr3_deterministic_{k}": v for k, v in deterministic.items()},
        **{f"bicubic_{k}": v for k, v in bicubic.items()},
        report.GENERATED: prediction,
        report.REAL: batch["target"],
        report.BASELINE: batch["cond"],
    }

  def sample_columns(params, batch, rng):
    """Low-res (nearest-upsampled) | SR3 sample | ground truth."""
    lowres = image_io.nearest_resize(batch["lowres"], batch["target"].shape[1])
    return [lowres, sample(params, batch, rng), batch["target"]]

  def make_scorers(replicated):
    """LPIPS (VGG16) of the samples and of bicubic against the targets, when evals.lpips."""
    if not config.evals.get("lpips"):
      return ()
    metrics = lpips.MeanLpips(
        lpips.make_distance(sharding=replicated),
        generated="sr3",
        baselines={"bicubic": "cond"},
        target_key="target",
    )
    return (family.Scorer(metrics, preprocess=lambda example, seed: {}),)

  d = config.data
  return family.Family(
      make_preprocess=lambda train: preprocess.sr_pairs(
          image_key=d.image_key,
          hr_size=d.hr_size,
          lr_size=d.lr_size,
          random_flip=train and d.random_flip,
          dead_leaves=d.get("dead_leaves", 0.0) if train else 0.0,
      ),
      init_state=init_state,
      train_step=train_step,
      eval_step=eval_step,
      sample=sample,
      sample_columns=sample_columns,
      learning_rate_fn=learning_rate_fn,
      make_scorers=make_scorers,
  )
