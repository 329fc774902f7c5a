"""Every config field's type and allowed values, checked before any work starts.

`check(config, num_devices)` walks a config (every stage of a staged one) and raises ConfigError,
one line naming the first wrong field, its value and what is allowed: a field no family reads, a
value of the wrong type, out of range, not finite, not one of a field's names, or two fields that
disagree (a schedule's start after its end, a stage's input size that is not the previous stage's
output, batches that do not split over the data-parallel devices). `RULES` is the one table of
what each field may hold; the families' own checks stay as guards for programmatic use.
"""

from collections.abc import Callable, Mapping
import dataclasses
import math
import re
from typing import Any

import ml_collections
import tensorflow_datasets as tfds

from posergen_jax.config import stages
from posergen_jax.diffusion import losses, parameterization, samplers, schedules
from posergen_jax.evaluation import generated_images
from posergen_jax.families import attn_stackgan, registry, sr3, text_image_encoder, wgan
from posergen_jax.io import errors
from posergen_jax.models import diff_augment, dual_attention, sr3_unet, stackgan_losses, wgan_losses
from posergen_jax.models import wgan as wgan_model
from posergen_jax.text import caption_inputs, char_cnn_rnn, conditioning
from posergen_jax.training import optimizers, sharding, trainer


@dataclasses.dataclass(frozen=True)
class Rule:
  """What one field may hold: `accepts(value)`, and `allowed` in words for the error."""

  accepts: Callable[[Any], bool]
  allowed: str


def _is_int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def integer(minimum: int, maximum: int | None = None) -> Rule:
  """An int (not a bool) in [minimum, maximum]."""
  if maximum is None:
    return Rule(lambda v: _is_int(v) and v >= minimum, f"an integer >= {minimum}")
  return Rule(
      lambda v: _is_int(v) and minimum <= v <= maximum, f"an integer in [{minimum}, {maximum}]"
  )


def number(low: float, high: float = math.inf, *, open_low=False, open_high=False) -> Rule:
  """A finite int or float between `low` and `high`, each end included unless `open_*`."""

  def accepts(v):
    return (
        _is_finite(v)
        and (v > low if open_low else v >= low)
        and (v < high if open_high else v <= high)
    )

  if high == math.inf:
    return Rule(accepts, f"a finite number {'>' if open_low else '>='} {low}")
  interval = f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
  return Rule(accepts, f"a number in {interval}")


def one_of(names: tuple[str, ...] | Mapping[str, Any]) -> Rule:
  """One of the strings `names`."""
  names = tuple(names)
  return Rule(lambda v: isinstance(v, str) and v in names, f"one of {names}")


def optional(rule: Rule) -> Rule:
  """None, or what `rule` accepts."""
  return Rule(lambda v: v is None or rule.accepts(v), f"None or {rule.allowed}")


def integers(minimum: int, *, may_be_empty: bool = False) -> Rule:
  """A tuple or list of ints >= minimum (non-empty unless `may_be_empty`)."""
  return Rule(
      lambda v: isinstance(v, (tuple, list))
      and (may_be_empty or len(v) > 0)
      and all(_is_int(x) and x >= minimum for x in v),
      f"a {'' if may_be_empty else 'non-empty '}tuple of integers >= {minimum}",
  )


def subset(names: tuple[str, ...]) -> Rule:
  """A tuple or list of distinct names from `names` (may be empty)."""
  return Rule(
      lambda v: isinstance(v, (tuple, list))
      and len(set(v)) == len(v)
      and all(isinstance(x, str) and x in names for x in v),
      f"a tuple of distinct names from {names}",
  )


TEXT = Rule(lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string")


def _is_split(value: Any) -> bool:
  """Whether `value` is a TFDS split string; whether the dataset has that split is checked when it
  loads (`input_pipeline.check_split_size`)."""
  if not isinstance(value, str):
    return False
  try:
    tfds.core.ReadInstruction.from_spec(value)
  except ValueError:
    return False
  return True


SPLIT = Rule(_is_split, "a TFDS split, e.g. 'train', 'test[:10%]' or 'train+test'")
BOOL = Rule(lambda v: isinstance(v, bool), "True or False")
# (name, size) pairs with distinct names; a size is >= 1 or -1 (the remaining devices).
MESH = Rule(
    lambda v: isinstance(v, (tuple, list))
    and len(v) > 0
    and all(
        isinstance(axis, (tuple, list))
        and len(axis) == 2
        and isinstance(axis[0], str)
        and _is_int(axis[1])
        and (axis[1] >= 1 or axis[1] == -1)
        for axis in v
    )
    and len({axis[0] for axis in v}) == len(v),
    "a tuple of (axis name, size) pairs with distinct names, sizes >= 1 or -1 (the rest), "
    "e.g. (('data', -1),)",
)
# Max-pool (window, stride) per convolution of the char-CNN-RNN, () for none.
POOLS = Rule(
    lambda v: isinstance(v, (tuple, list))
    and all(
        isinstance(p, (tuple, list))
        and (len(p) == 0 or (len(p) == 2 and all(_is_int(x) and x >= 1 for x in p)))
        for p in v
    ),
    "a tuple of (window, stride) pairs of integers >= 1, or () for no pooling",
)
VGG = Rule(
    lambda v: isinstance(v, str)
    and (
        v in (attn_stackgan.VGG_NONE, attn_stackgan.VGG16_LPIPS)
        or (v.startswith(attn_stackgan.VGG19_PREFIX) and len(v) > len(attn_stackgan.VGG19_PREFIX))
    ),
    f"'{attn_stackgan.VGG_NONE}', '{attn_stackgan.VGG16_LPIPS}' or "
    f"'{attn_stackgan.VGG19_PREFIX}<path to a torchvision VGG19 .pth>'",
)
NOT_NEGATIVE = number(0)
POSITIVE = integer(1)
FRACTION = number(0, 1)  # [0, 1]
PROBABILITY_BELOW_ONE = number(0, 1, open_high=True)  # [0, 1)


def _optimizer_rules() -> dict[str, Rule]:
  """One network's optimizer (training/optimizers.py)."""
  return {
      "name": one_of(optimizers.OPTIMIZERS),
      "learning_rate": NOT_NEGATIVE,  # 0 freezes the network (e.g. one of a GAN's two).
      "b1": PROBABILITY_BELOW_ONE,
      "b2": PROBABILITY_BELOW_ONE,
      "weight_decay": NOT_NEGATIVE,
      "grad_clip_norm": Rule(_is_finite, "a finite number (<= 0 turns clipping off)"),
      "warmup_steps": integer(0),
      "decay": one_of(optimizers.DECAYS),
  }


def _schedule_rules() -> dict[str, Rule]:
  """A noise schedule (diffusion/schedules.py)."""
  return {
      "name": one_of(schedules.SCHEDULE_NAMES),
      "num_steps": POSITIVE,
      "start": number(0, 1, open_low=True, open_high=True),
      "end": number(0, 1, open_low=True, open_high=True),
  }


def _prefixed(prefix: str, rules: Mapping[str, Rule]) -> dict[str, Rule]:
  return {f"{prefix}.{name}": rule for name, rule in rules.items()}


# Every field of a (stage's) config, by dotted path, and what it may hold.
RULES: dict[str, Rule] = {
    "family": one_of(registry.FAMILIES),
    "seed": integer(0, 2**32 - 1),
    "mesh": MESH,
    "fsdp": BOOL,
    # data
    "data.name": TEXT,
    "data.data_dir": optional(TEXT),
    "data.manual_dir": optional(TEXT),
    "data.image_key": TEXT,
    "data.train_split": SPLIT,
    "data.eval_split": SPLIT,
    "data.random_flip": BOOL,
    "data.dead_leaves": FRACTION,
    "data.shuffle_buffer": POSITIVE,
    "data.hr_size": POSITIVE,
    "data.lr_size": POSITIVE,
    # model (each family reads its own subset)
    "model.dtype": one_of(("float32", "bfloat16", "float16")),
    "model.ch": POSITIVE,
    "model.ch_mult": integers(1),
    "model.num_res_blocks": POSITIVE,
    "model.attn_resolutions": integers(1, may_be_empty=True),
    "model.dropout": PROBABILITY_BELOW_ONE,
    "model.num_groups": POSITIVE,
    "model.resblock_updown": BOOL,
    "model.skip_rescale": BOOL,
    "model.remat": one_of(sr3_unet.REMAT_POLICIES),
    "model.noise_embedding": one_of(sr3_unet.NOISE_EMBEDDINGS),
    "model.image_size": integer(8),
    "model.z_dim": POSITIVE,
    "model.c_dim": POSITIVE,
    "model.gf_dim": POSITIVE,
    "model.text_modulation": BOOL,
    "model.truncation": NOT_NEGATIVE,
    "model.df_dim": POSITIVE,
    "model.num_stages": POSITIVE,
    "model.attention": one_of(dual_attention.ATTENTION_MODES),
    "model.vgg": VGG,
    "model.vgg_layers": optional(POSITIVE),
    "model.emb_dim": POSITIVE,
    "model.image_widths": integers(1),
    "model.init_temperature": number(0, open_low=True),
    # diffusion
    **_prefixed("diffusion.train_schedule", _schedule_rules()),
    **_prefixed("diffusion.sample_schedule", _schedule_rules()),
    "diffusion.target": one_of(sr3.TARGETS),
    "diffusion.residual_scale": number(0, open_low=True),
    "diffusion.train_levels": one_of(sr3.TRAIN_LEVELS),
    "diffusion.loss_type": one_of(losses.LOSS_TYPES),
    "diffusion.prediction": one_of(parameterization.PREDICTIONS),
    "diffusion.weighting": one_of(losses.WEIGHTINGS),
    "diffusion.sampler": one_of(samplers.SAMPLERS),
    "diffusion.sample_steps": optional(POSITIVE),
    "diffusion.ddim_eta": FRACTION,
    "diffusion.cond_aug.max_level": FRACTION,
    "diffusion.cond_aug.sample_level": FRACTION,
    "diffusion.colour_fix": one_of(sr3.COLOUR_FIXES),
    "guidance.drop_prob": PROBABILITY_BELOW_ONE,
    "guidance.scale": NOT_NEGATIVE,
    # losses
    "loss.lipschitz": one_of(wgan.LIPSCHITZ),
    "loss.objective": one_of(wgan_losses.OBJECTIVES),
    "loss.mismatch_weight": FRACTION,
    "loss.magp_weight": NOT_NEGATIVE,
    "loss.magp_power": number(0, open_low=True),
    "loss.contrastive_weight": NOT_NEGATIVE,
    "loss.contrastive_temperature": number(0, open_low=True),
    "loss.augment": subset(diff_augment.POLICIES),
    "loss.clip_value": number(0, open_low=True),
    "loss.gp_weight": NOT_NEGATIVE,
    "loss.n_critic": POSITIVE,
    "loss.kl_weight": NOT_NEGATIVE,
    "loss.uncond_weight": NOT_NEGATIVE,
    "loss.fidelity_weight": NOT_NEGATIVE,
    "loss.fidelity_reduction": one_of(stackgan_losses.FIDELITY_REDUCTIONS),
    "loss.color_weight": NOT_NEGATIVE,
    "loss.name": one_of(text_image_encoder.LOSSES),
    "loss.label_key": TEXT,
    # text
    "text.source": one_of(conditioning.SOURCES),
    "text.language": one_of(caption_inputs.LANGUAGES),
    "text.embedding_key": TEXT,
    "text.captions_key": TEXT,
    "text.weights": TEXT,
    "text.tokenizer": TEXT,
    "text.zh_student": optional(TEXT),
    "text.max_length": integer(2),  # [CLS] and [SEP] at least.
    "text.tower": one_of(text_image_encoder.TEXT_TOWERS),
    "text.char_cnn_rnn.cell": one_of(char_cnn_rnn.CELLS),
    "text.char_cnn_rnn.cnn_dim": POSITIVE,
    "text.char_cnn_rnn.emb_dim": POSITIVE,
    "text.char_cnn_rnn.kernel_size": POSITIVE,
    "text.char_cnn_rnn.conv_features": integers(1),
    "text.char_cnn_rnn.pools": POOLS,
    # optimizers: one, or one per network (GANs)
    **_prefixed("optimizer", _optimizer_rules()),
    **_prefixed("optimizer.gen", _optimizer_rules()),
    **_prefixed("optimizer.disc", _optimizer_rules()),
    # the generic trainer
    "train.batch_size": POSITIVE,
    "train.num_steps": POSITIVE,
    "train.log_every": POSITIVE,
    "train.sample_every": POSITIVE,
    "train.max_nonfinite_steps": POSITIVE,
    "train.stop_check_every": POSITIVE,
    "train.microbatches": POSITIVE,
    "ema.decay": FRACTION,
    "ckpt.every": POSITIVE,
    "ckpt.max_to_keep": POSITIVE,
    "evals.num_examples": POSITIVE,
    "evals.batch_size": POSITIVE,
    "evals.after_train": BOOL,
    "evals.grid_size": POSITIVE,
    "evals.image_metrics": subset(generated_images.IMAGE_METRICS),
    "evals.lpips": BOOL,
    "evals.fid_reference": optional(TEXT),
    "evals.inception_classifier": optional(TEXT),
    "evals.r_precision.encoder_workdir": optional(TEXT),
    "evals.r_precision.encoder_config": TEXT,
    "evals.r_precision.num_draws": POSITIVE,
    "evals.captions_per_example": POSITIVE,
    "evals.r_precision.num_candidates": integer(2),
    "evals.r_precision.language": optional(one_of(caption_inputs.LANGUAGES)),
}


class _Fields:
  """A stage's fields by path, and how to name one in an error (`config.stages.S.x` when the
  stage sets it, else `config.x`)."""

  def __init__(self, config: ml_collections.ConfigDict, stage: str | None):
    self.stage = stage
    self.config = stages.stage_config(config, stage) if stage else config
    own = stages.unlocked_copy(config.stages[stage]) if stage else ml_collections.ConfigDict()
    self.own = dict(stages.leaves(own))
    self.shared = stages.shared_data_overrides(config) if stage else {}
    self.values = dict(stages.own_leaves(self.config))

  def name(self, path: str) -> str:
    if self.stage and path in self.own and path not in self.shared:
      return f"config.stages.{self.stage}.{path}"
    return f"config.{path}"

  def fail(self, path: str, allowed: str) -> errors.ConfigError:
    return errors.ConfigError(f"{self.name(path)}={self.values[path]!r}: must be {allowed}.")


def _check_values(fields: _Fields) -> None:
  for path, value in fields.values.items():
    rule = RULES.get(path)
    if rule is None:
      raise errors.ConfigError(
          f"{fields.name(path)}: no family reads this field (a typo, or a field of another "
          "config file?)."
      )
    if not rule.accepts(value):
      raise fields.fail(path, rule.allowed)


def _check_relations(fields: _Fields, num_devices: int) -> None:
  """Fields that must agree with each other; each field alone is already valid."""
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
  if "model.ch_mult" in v:  # The diffusion U-Nets.
    size = "data.hr_size" if "data.hr_size" in v else "model.image_size"
    halvings = 2 ** (len(v["model.ch_mult"]) - 1)
    if v[size] % halvings:
      raise fields.fail(
          size, f"a multiple of {halvings} (the U-Net halves it {halvings.bit_length() - 1} times)"
      )
    widths = [v["model.ch"] * m for m in v["model.ch_mult"]]
    if any(width % v["model.num_groups"] for width in widths):
      raise fields.fail("model.num_groups", f"a divisor of every level's width {widths}")
  if v.get("family") == "wgan":
    try:
      wgan_model.num_resamples(v["model.image_size"])
    except ValueError:
      raise fields.fail("model.image_size", "a power of two >= 8") from None
  if "model.num_stages" in v and v["model.gf_dim"] % 2 ** (v["model.num_stages"] - 1):
    raise fields.fail(
        "model.gf_dim",
        f"a multiple of 2**(model.num_stages - 1)={2 ** (v['model.num_stages'] - 1)}",
    )
  stored = re.fullmatch(r"[\w.-]+/(\d+)(_emb)?", v["data.name"])
  if stored and int(stored.group(1)) < _output_size(fields):
    raise fields.fail(
        "data.name",
        f"a dataset stored at >= {_output_size(fields)} px, the side this stage generates "
        f"(e.g. {v['data.name'].split('/')[0]}/{_output_size(fields)})",
    )
  sizes = dict(zip((axis for axis, _ in v["mesh"]), sharding.mesh_sizes(v["mesh"], num_devices)))
  shards = sizes[sharding.DATA_AXIS] * sizes.get(sharding.SLICES_AXIS, 1)
  trainer.check_batch_sizes(fields.config, shards, field=fields.name)
  count = v.get("train.microbatches", 1)
  if v["train.batch_size"] % (count * shards):
    raise fields.fail(
        "train.microbatches",
        f"a divisor of {fields.name('train.batch_size')}={v['train.batch_size']} leaving "
        f"microbatches that are multiples of the {shards} data-parallel devices",
    )


def _output_size(fields: _Fields) -> int:
  """Side of the images a stage generates (its largest)."""
  v = fields.values
  if "model.num_stages" in v:  # StackGAN.
    return attn_stackgan.image_sizes(v["model.num_stages"])[-1]
  return v["data.hr_size"] if "data.hr_size" in v else v["model.image_size"]


def check(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Raises ConfigError (one line: field, value, what is allowed) for the first field of
  `config`, or of any stage of a staged config, that no run over `num_devices` devices can use.

  Staged configs also need `stage` to name a stage and each stage's input (`data.lr_size`) to be
  the side of the images the stage before it generates.
  """
  if not stages.is_staged(config):
    fields = _Fields(config, None)
    _check_values(fields)
    _check_relations(fields, num_devices)
    return
  if not isinstance(config.stage_order, (tuple, list)) or not config.stage_order:
    raise errors.ConfigError(
        f"config.stage_order={config.stage_order!r}: must be a non-empty tuple of stage names."
    )
  for name in config.stage_order:
    if name not in config.stages:
      raise errors.ConfigError(
          f"config.stage_order names {name!r}, which is not one of config.stages "
          f"{tuple(config.stages)}."
      )
  stages.check_stage(config, config.stage)
  previous = None
  for name in config.stage_order:
    fields = _Fields(config, name)
    _check_values(fields)
    _check_relations(fields, num_devices)
    if previous is not None and "data.lr_size" in fields.values:
      size = _output_size(previous)
      if fields.values["data.lr_size"] != size:
        raise fields.fail(
            "data.lr_size", f"{size}, the side of the images stage {previous.stage!r} generates"
        )
    previous = fields
