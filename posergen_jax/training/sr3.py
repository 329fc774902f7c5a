"""SR3 super-resolution family: pure init/train/eval/sample functions for the trainer."""
import jax
import jax.numpy as jnp
import ml_collections
import optax

from posergen_jax.data import preprocess
from posergen_jax.diffusion import samplers, schedules, sr3 as sr3_lib
from posergen_jax.evaluation import image_metrics
from posergen_jax.models import sr3_unet
from posergen_jax.training import family, optimizers, train_state


def make_model(config: ml_collections.ConfigDict) -> sr3_unet.UNet:
  """The U-Net described by `config.model`."""
  m = config.model
  return sr3_unet.UNet(ch=m.ch, ch_mult=tuple(m.ch_mult), num_res_blocks=m.num_res_blocks,
                       attn_resolutions=tuple(m.attn_resolutions), dropout=m.dropout,
                       num_groups=m.num_groups, dtype=jnp.dtype(m.dtype))


def _schedule(config: ml_collections.ConfigDict) -> schedules.Schedule:
  return schedules.make_schedule(config.name, config.num_steps, start=config.start,
                                 end=config.end)


def make_family(config: ml_collections.ConfigDict) -> family.Family:
  """Builds the SR3 family from the full config (model, diffusion, optimizer, ema, data)."""
  model = make_model(config)
  train_schedule = _schedule(config.diffusion.train_schedule)
  sample_schedule = _schedule(config.diffusion.sample_schedule)
  tx, learning_rate_fn = optimizers.make_optimizer(config.optimizer)

  def denoise_fn(params, *, train=False, dropout_rng=None):
    rngs = {"dropout": dropout_rng} if train else None
    return lambda x, cond, level: model.apply(
        {"params": params}, x, cond, level, train=train, rngs=rngs)

  def init_state(rng, batch):
    target = batch["target"]
    params = model.init({"params": rng}, target, batch["cond"],
                        jnp.ones(target.shape[:1], jnp.float32), train=False)["params"]
    return train_state.TrainState.create(params=params, tx=tx)

  def train_step(state, batch, rng):
    noise_rng, dropout_rng = jax.random.split(jax.random.fold_in(rng, state.step))

    def loss_fn(params):
      return sr3_lib.sr3_loss(
          denoise_fn(params, train=True, dropout_rng=dropout_rng), batch["target"],
          batch["cond"], noise_rng, train_schedule, loss_type=config.diffusion.loss_type)

    (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    state = state.apply_gradients(grads, ema_decay=config.ema.decay)
    return state, {**aux, "grad_norm": optax.global_norm(grads)}

  def sample(params, batch, rng):
    return samplers.ddpm_sample(denoise_fn(params), batch["cond"], rng, sample_schedule)

  def eval_step(params, batch, rng):
    """SR3 samples and the bicubic baseline, each scored against the target."""
    prediction = sample(params, batch, rng)
    sr = image_metrics.psnr_ssim(prediction, batch["target"])
    bicubic = image_metrics.psnr_ssim(batch["cond"], batch["target"])
    return {**{f"sr3_{k}": v for k, v in sr.items()},
            **{f"bicubic_{k}": v for k, v in bicubic.items()}}

  def sample_columns(params, batch, rng):
    """Low-res (nearest-upsampled) | SR3 sample | ground truth."""
    scale = batch["target"].shape[1] // batch["lowres"].shape[1]
    lowres = jnp.repeat(jnp.repeat(batch["lowres"], scale, axis=1), scale, axis=2)
    return [lowres, sample(params, batch, rng), batch["target"]]

  d = config.data
  return family.Family(
      make_preprocess=lambda train: preprocess.sr_pairs(
          image_key=d.image_key, hr_size=d.hr_size, lr_size=d.lr_size,
          random_flip=train and d.random_flip),
      init_state=init_state,
      train_step=train_step,
      eval_step=eval_step,
      sample_columns=sample_columns,
      learning_rate_fn=learning_rate_fn,
  )
