"""posergen_jax: text-to-poster generation (GAN_SR3, Gt-StackGAN) in JAX/Flax."""

import pathlib
import re

import setuptools

# The version is written once, in posergen_jax/__init__.py; read without importing the package.
VERSION = re.search(
    r'^__version__ = "([^"]+)"$',
    (pathlib.Path(__file__).parent / "posergen_jax" / "__init__.py").read_text(encoding="utf-8"),
    re.MULTILINE,
).group(1)

INSTALL_REQUIRES = [
    "absl-py",
    "clu>=0.0.12",
    "dm-pix>=0.4",
    "etils[epath]",
    "flax>=0.12",
    "importlib_resources",  # tensorflow-datasets needs it to build datasets
    "jax>=0.10",
    "ml_collections>=1.0",
    "noto-cjk>=0.0.1",  # locates the Noto Sans CJK font below
    "noto-cjk-sans-otc>=0.0.1",  # CJK font for rendering poster titles
    "numpy",
    "optax>=0.2.5",
    "orbax-checkpoint>=0.11",
    "pillow",
    "scipy",  # sqrtm for FID
    "tensorboard",
    "tqdm",  # progress bars (io/progress.py)
    # tf.data only: the CPU build where one exists.
    "tensorflow-cpu>=2.18; platform_machine=='x86_64'",
    "tensorflow>=2.18; platform_machine!='x86_64'",
    "tensorflow-datasets>=4.9.8",
    "transformers>=4.40",
]

EXTRAS_REQUIRE = {
    # torch is the reference parity tests compare against (CPU build on disk here);
    # scikit-image ships the real photos they run on.
    # nbmake runs the colabs/ notebooks as tests; gradio and playwright test the web demo (the
    # browser is Debian's chromium, which .ci/run installs).
    # pyink and ruff check the code style (tests/style_test.py); pinned, since formatting changes
    # between releases.
    "test": [
        "dill",
        "gradio>=6",
        # XLA's TPU compiler (libtpu, the version jax pins), for tests/tpu_compile_test.py.
        "jax[tpu]",
        "nbmake",
        "playwright",
        "pyink==26.5.1",
        "pytest",
        "pytest-xdist",
        "ruff==0.17.6",
        "scikit-image",
        "torch==2.13.0",
    ],
    # The web demo (python -m posergen_jax.demo).
    "demo": ["gradio>=6"],
    # The PyTorch baseline that benchmarks/ time side by side with JAX.
    "bench": ["torch==2.13.0"],
}

setuptools.setup(
    name="posergen_jax",
    version=VERSION,
    description=__doc__,
    license="Apache-2.0",
    # configs/ installs as posergen_jax.configs, so a config file loads from any folder.
    packages=[
        *setuptools.find_packages(include=["posergen_jax", "posergen_jax.*"]),
        "posergen_jax.configs",
    ],
    package_dir={"posergen_jax.configs": "configs"},
    python_requires=">=3.11",  # What jax 0.10 and flax 0.12 need.
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={"console_scripts": ["posergen = posergen_jax.__main__:run"]},
)
