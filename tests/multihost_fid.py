"""One process of tests/multihost_fid_test.py: JAX on 2 local CPU processes (one device each,
gloo collectives) evaluates FID and KID twice against each of two reference caches.

  python tests/multihost_fid.py PROCESS_ID PORT LOCAL_DIR SHARED_DIR OUT_JSON

LOCAL_DIR is this process's own folder (a host's local disk), SHARED_DIR one folder both processes
name (a shared file system). Each evaluation accumulates two global batches of generated and real
images (features: a fixed linear map); OUT_JSON gets {"local_disks": [...], "shared_folder":
[...]}, a {"needs_real_images", "fid", "kid"} per evaluation.
"""

import json
import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=1"

import jax  # noqa: E402
from jax.sharding import NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402
import numpy as np  # noqa: E402

from posergen_jax.evaluation import generated_images  # noqa: E402

# Per process and batch: images [LOCAL_BATCH, SIDE, SIDE, 3].
LOCAL_BATCH, SIDE, FEATURES = 4, 4, 6


def main(process_id: int, port: int, local_dir: str, shared_dir: str, out: str) -> None:
  jax.config.update("jax_platforms", "cpu")
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=process_id)
  mesh = jax.make_mesh((jax.device_count(),), ("data",))
  data = NamedSharding(mesh, P("data"))
  projection = np.random.default_rng(0).normal(size=(SIDE * SIDE * 3, FEATURES))
  features_fn = jax.jit(
      lambda images: images.reshape(images.shape[0], -1) @ projection,
      in_shardings=data,
      out_shardings=data,
  )

  def global_batch(kind: int, index: int) -> jax.Array:
    seed = (kind, index, jax.process_index())  # This process's rows of the global batch.
    rows = np.random.default_rng(seed).uniform(-1, 1, (LOCAL_BATCH, SIDE, SIDE, 3))
    return jax.make_array_from_process_local_data(data, rows.astype(np.float32))

  results = {"local_disks": [], "shared_folder": []}
  for kind, cache_dir in (("local_disks", local_dir), ("shared_folder", shared_dir)):
    for _ in range(2):  # The second evaluation finds the cache the first one left.
      metrics = generated_images.GeneratedImageMetrics(
          ("fid", "kid"), features_fn, os.path.join(cache_dir, "reference.npz")
      )
      needs_real = metrics.needs_real_images
      for index in range(2):
        metrics.add(global_batch(0, index), global_batch(1, index) if needs_real else None)
      results[kind].append({"needs_real_images": needs_real, **metrics.result()})
  with open(out, "w", encoding="utf-8") as f:
    json.dump(results, f)


if __name__ == "__main__":
  main(int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:6])
