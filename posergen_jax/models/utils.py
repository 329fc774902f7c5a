"""Small helpers shared by the model modules."""
import jax


def param_count(params) -> int:
  """Total number of scalars in a parameter pytree (any nesting, any dtypes)."""
  return sum(int(leaf.size) for leaf in jax.tree.leaves(params))
