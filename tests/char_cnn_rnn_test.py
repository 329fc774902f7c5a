"""Tests for the char-CNN-RNN encoder and the SJE loss.

StackGAN's embedding pickles are read by the CUB builder (data/cub_birds/manual_files.py) and
tested in cub_birds_test.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from posergen_jax.text.char_cnn_rnn import (
    ALPHABET,
    ALPHABET_SIZE,
    CharCnnRnn,
    CharCnnRnnLong,
    encode_chars,
    joint_embedding_loss,
)

# Tiny widths; the layout (kernel 4, pools, 201 characters) stays Reed's.
TINY = {"emb_dim": 16, "conv_features": (8, 8), "cnn_dim": 8}
CAPTIONS = [
    "This bird is red with a short beak.",
    "a large blue bird with long wings",
    "this small bird has a white belly and grey wings",
]


def _apply(module, ids, seed=0):
  """(variables, jitted apply) of `module` initialised on `ids`."""
  variables = module.init(jax.random.key(seed), ids)
  return variables, jax.jit(module.apply, static_argnames="capture_intermediates")


# --- character encoding -------------------------------------------------------------------------


def test_alphabet_is_reeds():
  assert ALPHABET_SIZE == 70 and ALPHABET.endswith("{} ") and ALPHABET.count("-") == 2


def test_encode_chars_case_unknowns_padding_truncation():
  ids = encode_chars(["Ab -", "a\n\u00e9z", "abcdef"], max_length=5)
  assert ids.dtype == np.int32 and ids.shape == (3, 5)
  # a=1, b=2, space=70; '-' takes its later position (60) as in Reed's Lua dict; then padding.
  np.testing.assert_array_equal(ids[0], [1, 2, 70, 60, 0])
  # Newline and non-alphabet characters are 0 in place; the text after them keeps its positions.
  np.testing.assert_array_equal(ids[1], [1, 0, 0, 26, 0])
  np.testing.assert_array_equal(ids[2], [1, 2, 3, 4, 5])  # cut to max_length
  np.testing.assert_array_equal(encode_chars(["ABC"], 3), encode_chars(["abc"], 3))
  assert encode_chars(["x"] * 2).shape == (2, 201)


def test_encode_chars_rejects_a_bare_string():
  with pytest.raises(TypeError, match="sequence of captions"):
    encode_chars("a red bird")


# --- model --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, cell, steps",
    [(CharCnnRnn, "gru", 8), (CharCnnRnn, "rnn", 8), (CharCnnRnnLong, "gru", 18)],
)
def test_output_shape_and_time_steps(make, cell, steps):
  ids = encode_chars(CAPTIONS)
  model = make(cell=cell, **TINY)
  variables, apply = _apply(model, ids)
  out, state = apply(variables, ids, capture_intermediates=True)
  assert out.shape == (3, TINY["emb_dim"]) and out.dtype == jnp.float32
  assert np.all(np.isfinite(out))
  # Reed's layouts: 201 characters leave 8 (HybridCNN) or 18 (HybridCNNLong) recurrent steps.
  assert state["intermediates"]["rnn"]["__call__"][0].shape == (3, steps, TINY["cnn_dim"])
  # One-hot over the 70 characters, and id 0 (padding, unknown) is the zero vector: on it the
  # first conv gives exactly its bias.
  conv0 = variables["params"]["conv0"]
  assert conv0["kernel"].shape == (4, ALPHABET_SIZE, TINY["conv_features"][0])
  _, state = apply(variables, np.zeros((1, 201), np.int32), capture_intermediates=True)
  np.testing.assert_array_equal(state["intermediates"]["conv0"]["__call__"][0][0, 0], conv0["bias"])


def test_input_validation():
  model = CharCnnRnn(**TINY)
  with pytest.raises(ValueError, match="too short"):
    model.init(jax.random.key(0), encode_chars(["a bird"], max_length=20))
  with pytest.raises(ValueError, match="integer"):
    model.init(jax.random.key(0), jnp.zeros((1, 201)))
  with pytest.raises(ValueError, match="cell"):
    CharCnnRnn(cell="lstm", **TINY).init(jax.random.key(0), encode_chars(["a"]))


def test_embedding_depends_on_text_not_on_batch_or_padding():
  ids = encode_chars(CAPTIONS)
  variables, apply = _apply(CharCnnRnn(**TINY), ids)
  batch = np.asarray(apply(variables, ids))
  assert np.abs(batch[0] - batch[1]).max() > 1e-3  # different captions, different embeddings
  one_word_changed = apply(variables, encode_chars(["This bird is blue with a short beak."]))
  assert np.abs(batch[0] - np.asarray(one_word_changed)[0]).max() > 1e-5
  # Padding is fixed-length zero vectors: a caption's embedding is the same alone, in a batch with
  # longer captions, at another batch position, and with unknown characters or text past 201 after
  # it.
  alone = np.asarray(apply(variables, encode_chars(CAPTIONS[:1])))[0]
  reordered = np.asarray(apply(variables, encode_chars(CAPTIONS[::-1])))[2]
  trailing = np.asarray(apply(variables, encode_chars([CAPTIONS[0] + "\u00e9\n\t"])))[0]
  np.testing.assert_allclose(alone, batch[0], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(reordered, batch[0], rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(trailing, alone)
  long = "a" * 201
  np.testing.assert_array_equal(*np.asarray(apply(variables, encode_chars([long, long + "zz"]))))


def test_receptive_field_matches_reeds_floor_mode_pools():
  """Reed's HybridCNN (last pool 3, stride 2) never reads characters 192..200; the Long one does."""
  base = encode_chars(["b" * 201])

  def changed(position):  # 'a' at `position`
    return np.where(np.arange(201) == position, 1, base)

  for make, last_seen, first_unseen in [(CharCnnRnn, 191, 192), (CharCnnRnnLong, 200, None)]:
    variables, apply = _apply(make(**TINY), base)
    reference = np.asarray(apply(variables, base))
    assert np.abs(np.asarray(apply(variables, changed(last_seen))) - reference).max() > 1e-6
    if first_unseen is not None:
      np.testing.assert_array_equal(apply(variables, changed(first_unseen)), reference)


# --- joint embedding loss ----------------------------------------------------------------------

# Scores s[i, j] = <image_i, text_j> = [[2, 0, 2], [0, 1, 1], [1, 1, 2]]; matched pairs 2, 1, 2.
IMAGES = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
TEXTS = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)


def test_joint_embedding_loss_hand_computed():
  # Image side, max(0, 1 + s[i, j] - s[i, i]): (0,1) 0, (0,2) 1, (1,0) 0, (1,2) 1, (2,0) 0, (2,1) 0.
  # Text side, max(0, 1 + s[i, j] - s[j, j]): (1,0) 0, (2,0) 0, (0,1) 0, (2,1) 1, (0,2) 1, (1,2) 0.
  # Sum 4 over 3 * 3 pairs.
  loss = joint_embedding_loss(TEXTS, IMAGES, jnp.array([0, 1, 2]))
  np.testing.assert_allclose(loss, 4 / 9, rtol=1e-6)
  # Items 0 and 2 share a class: pairs (0, 2) and (2, 0) are not negatives; they held 1 + 1 + 0 + 0.
  np.testing.assert_allclose(
      joint_embedding_loss(TEXTS, IMAGES, jnp.array([5, 7, 5])), 2 / 9, rtol=1e-6
  )


def test_joint_embedding_loss_is_zero_when_margin_met():
  emb = 2.0 * np.eye(3, dtype=np.float32)  # matched score 4, every other 0: margin 1 met
  assert float(joint_embedding_loss(emb, emb, jnp.arange(3))) == 0.0
  # Matched score 0.8 misses the margin by 0.2 on each of the 6 + 6 negative pairs.
  np.testing.assert_allclose(
      joint_embedding_loss(emb, 0.2 * emb, jnp.arange(3)), 12 * 0.2 / 9, rtol=1e-6
  )


def _reed_joint_embedding_loss(fea_txt, fea_img):
  """Reed's Lua `JointEmbeddingLoss(fea_txt, fea_img, labels = 1..B)`, transcribed loop for loop."""
  batch = len(fea_img)
  loss = 0.0
  for i in range(batch):
    score = [float(fea_img[i] @ fea_txt[j]) for j in range(batch)]
    loss += sum(max(0.0, score[j] - score[i] + 1) for j in range(batch) if j != i)
  return loss / (batch * batch)


def test_joint_embedding_loss_matches_reeds_symmetric_loss():
  rng = np.random.default_rng(0)
  texts, images = rng.standard_normal((2, 6, 5)).astype(np.float32)
  expected = _reed_joint_embedding_loss(texts, images) + _reed_joint_embedding_loss(images, texts)
  np.testing.assert_allclose(
      joint_embedding_loss(texts, images, jnp.arange(6)), expected, rtol=1e-5
  )


def test_joint_embedding_loss_validates_shapes():
  with pytest.raises(ValueError, match="one shape"):
    joint_embedding_loss(TEXTS, IMAGES[:2], jnp.arange(3))
  with pytest.raises(ValueError, match="labels"):
    joint_embedding_loss(TEXTS, IMAGES, jnp.arange(2))


def test_adam_steps_reduce_the_joint_embedding_loss():
  captions = [
      "this bird is red with a short beak",
      "a small red bird with a short beak",
      "a large blue bird with long wings",
      "this blue bird has very long wings",
  ]
  labels = jnp.array([0, 0, 1, 1])
  rng = np.random.default_rng(1)
  centres = rng.standard_normal((2, TINY["emb_dim"])).astype(np.float32)
  images = centres[np.asarray(labels)] + 0.1 * rng.standard_normal((4, TINY["emb_dim"]))
  ids = encode_chars(captions)
  model = CharCnnRnn(**TINY)
  params = model.init(jax.random.key(0), ids)["params"]
  optimizer = optax.adam(1e-2)
  opt_state = optimizer.init(params)

  @jax.jit
  def train_step(params, opt_state):
    def loss_fn(params):
      return joint_embedding_loss(model.apply({"params": params}, ids), images, labels)

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = optimizer.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state, loss

  losses = []
  for _ in range(10):
    params, opt_state, loss = train_step(params, opt_state)
    losses.append(float(loss))
  assert losses[-1] < 0.5 * losses[0], losses
