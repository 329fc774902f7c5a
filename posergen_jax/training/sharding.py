"""The device mesh and the shardings built from it, once, at start-up."""

from collections.abc import Callable, Sequence
import dataclasses
import math
from typing import Any

import jax
from jax.experimental import mesh_utils
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

from posergen_jax.config import schema
from posergen_jax.io import errors

DATA_AXIS = "data"
MODEL_AXIS = "model"
# Multislice (TPU slices joined over the data-centre network): an outer data-parallel axis across
# slices; the batch is split over it and `data`, FSDP and `model` stay inside a slice.
SLICES_AXIS = "slices"
# With FSDP, arrays smaller than this stay replicated: gathering them would cost more than
# keeping a copy (big_vision's fsdp rule has the same kind of floor).
FSDP_MIN_ELEMENTS = 2**14

# `config.mesh`: (name, size) pairs with distinct names; a size is >= 1 or -1 (the remaining
# devices).
MESH = schema.Rule(
    lambda v: isinstance(v, (tuple, list))
    and len(v) > 0
    and all(
        isinstance(axis, (tuple, list))
        and len(axis) == 2
        and isinstance(axis[0], str)
        and schema.is_int(axis[1])
        and (axis[1] >= 1 or axis[1] == -1)
        for axis in v
    )
    and len({axis[0] for axis in v}) == len(v),
    "a tuple of (axis name, size) pairs with distinct names, sizes >= 1 or -1 (the rest), "
    "e.g. (('data', -1),)",
)
# The config fields this module reads (config/schema.py).
FIELD_RULES = {"mesh": MESH, "fsdp": schema.BOOL}


@dataclasses.dataclass(frozen=True)
class MeshShardings:
  """A mesh and the shardings every train loop needs.

  Attributes:
    mesh: the device mesh.
    data: batch arrays, leading (batch) axis split over the data axis.
    replicated: a full copy on every device (state, rngs, scalars).
    fsdp: whether `state_shardings` also splits the state over the data axis.
  """

  mesh: jax.sharding.Mesh
  data: NamedSharding
  replicated: NamedSharding
  fsdp: bool = False


def mesh_sizes(axes: Sequence[tuple[str, int]], num_devices: int) -> tuple[int, ...]:
  """The size of each of `axes` (`[(axis_name, size), ...]`, one size may be -1) over
  `num_devices` devices.

  Raises:
    ConfigError naming config.mesh: no 'data' axis, more than one -1, or sizes that do not
    multiply to `num_devices`.
  """
  names = tuple(name for name, _ in axes)
  sizes = [int(size) for _, size in axes]
  if DATA_AXIS not in names:
    raise errors.ConfigError(f"config.mesh={list(axes)} needs a {DATA_AXIS!r} axis.")
  if sizes.count(-1) > 1:
    raise errors.ConfigError(f"config.mesh={list(axes)}: at most one axis may have size -1.")
  known = math.prod(s for s in sizes if s != -1)
  if -1 in sizes:
    if num_devices % known:
      raise errors.ConfigError(f"config.mesh={list(axes)} does not divide {num_devices} devices.")
    sizes[sizes.index(-1)] = num_devices // known
  if math.prod(sizes) != num_devices:
    raise errors.ConfigError(
        f"config.mesh={list(axes)} has {math.prod(sizes)} devices, but {num_devices} are present."
    )
  return tuple(sizes)


def make_mesh(
    axes: Sequence[tuple[str, int]], devices: Sequence[jax.Device] | None = None
) -> jax.sharding.Mesh:
  """Builds a mesh from `[(axis_name, size), ...]`; one size may be -1 (the rest).

  Args:
    axes: axis names and sizes, e.g. `[("data", -1)]` or `[("data", 2), ("model", 4)]`.
    devices: devices to use (default: all of `jax.devices()`).

  Returns:
    A mesh with `Auto` axis types (jit propagates shardings, as pjit did).
  """
  devices = list(jax.devices() if devices is None else devices)
  names = tuple(name for name, _ in axes)
  sizes = mesh_sizes(axes, len(devices))
  types = (AxisType.Auto,) * len(names)
  if len({getattr(d, "slice_index", 0) for d in devices}) > 1:  # Several TPU slices.
    if SLICES_AXIS not in names:
      raise errors.ConfigError(
          f"config.mesh={list(axes)}: the devices span several TPU slices; add a "
          f"({SLICES_AXIS!r}, number of slices) axis first, e.g. "
          f"(('{SLICES_AXIS}', 2), ('{DATA_AXIS}', -1))."
      )
    dcn = [size if name == SLICES_AXIS else 1 for name, size in zip(names, sizes)]
    ici = [1 if name == SLICES_AXIS else size for name, size in zip(names, sizes)]
    grid = mesh_utils.create_hybrid_device_mesh(ici, dcn, devices)
    return jax.sharding.Mesh(grid, names, axis_types=types)
  return jax.make_mesh(tuple(sizes), names, axis_types=types, devices=devices)


def batch_axes(mesh: jax.sharding.Mesh) -> str | tuple[str, str]:
  """The mesh axes a batch's leading dimension is split over: `data`, and `slices` first when
  the mesh has it."""
  return (SLICES_AXIS, DATA_AXIS) if SLICES_AXIS in mesh.shape else DATA_AXIS


def make_shardings(mesh: jax.sharding.Mesh, fsdp: bool = False) -> MeshShardings:
  """Returns the data-parallel and replicated shardings over `mesh`; `fsdp` (`config.fsdp`)
  also splits the train state over the data axis (`state_shardings`)."""
  return MeshShardings(
      mesh=mesh,
      data=NamedSharding(mesh, P(batch_axes(mesh))),
      replicated=NamedSharding(mesh, P()),
      fsdp=fsdp,
  )


def data_axis_size(mesh: jax.sharding.Mesh) -> int:
  """Number of data-parallel shards (`data` × `slices`); global batch sizes must be multiples
  of it."""
  return mesh.shape[DATA_AXIS] * mesh.shape.get(SLICES_AXIS, 1)


def state_shardings(state_shapes, shardings: MeshShardings):
  """Shardings for a train state given its `jax.eval_shape` pytree.

  Without a `model` mesh axis or FSDP everything is replicated (pure data parallelism). With a
  `model` axis, every array of rank >= 2 whose last (output-feature) dimension divides by its
  size is split along it: conv and dense kernels, and their optimizer moments and EMA copies,
  which have the same shapes. With `shardings.fsdp`, every array of at least FSDP_MIN_ELEMENTS
  is also split over the data axis along its largest other dimension that divides by the axis
  size (parameters, Adam moments and the EMA copy alike). The rest is replicated. XLA inserts
  the collectives (all-gathers before use, reduce-scatters of the gradients); results equal the
  data-parallel ones up to float reassociation.
  """
  mesh = shardings.mesh
  model_size = mesh.shape.get(MODEL_AXIS, 1)
  data_size = mesh.shape[DATA_AXIS] if shardings.fsdp else 1

  def leaf_sharding(leaf) -> NamedSharding:
    shape = getattr(leaf, "shape", ())
    spec = [None] * len(shape)
    if model_size > 1 and len(shape) >= 2 and shape[-1] % model_size == 0:
      spec[-1] = MODEL_AXIS
    if data_size > 1 and math.prod(shape) >= FSDP_MIN_ELEMENTS:
      free = [i for i, size in enumerate(shape) if spec[i] is None and size % data_size == 0]
      if free:
        spec[max(free, key=lambda i: shape[i])] = DATA_AXIS
    return NamedSharding(mesh, P(*spec)) if any(spec) else shardings.replicated

  return jax.tree.map(leaf_sharding, state_shapes)


def init_sharded(
    init_fn: Callable[[jax.Array, Any], Any], shardings: MeshShardings, rng: jax.Array, batch: Any
) -> tuple[Any, Any]:
  """Runs `init_fn(rng, batch) -> state` under jit with its output created already sharded.

  Args:
    init_fn: a family's `init_state`; `batch` (arrays `[B, ...]`) fixes the input shapes.
    shardings: the mesh's shardings; the state's come from `state_shardings`.
    rng: the init key.
    batch: an example global batch.

  Returns:
    (state, its shardings): the pytree of shardings the train step is jitted with.
  """
  shardings_tree = state_shardings(jax.eval_shape(init_fn, rng, batch), shardings)
  return jax.jit(init_fn, out_shardings=shardings_tree)(rng, batch), shardings_tree
