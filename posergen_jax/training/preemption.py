"""SIGTERM/SIGINT handling: finish the current step, checkpoint, stop cleanly."""

import logging
import signal
import threading

import jax
from jax.experimental import multihost_utils
import numpy as np

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class PreemptionGuard:
  """Context manager that turns SIGTERM/SIGINT into a request to stop.

  Inside the `with` block the signals only set a flag; the train loop asks
  `should_stop(step)` after each step, saves a checkpoint and returns. All hosts
  agree: with several processes, one host's signal stops every host at the
  same step, the first multiple of `check_every` after it (the hosts compare
  flags only then, so most steps run without a cross-host collective). Outside
  the block the previous handlers are back in place.
  """

  def __init__(self, check_every: int = 1):
    self._signal_name: str | None = None
    self._previous = {}
    self._check_every = check_every

  def _handle(self, signum, frame):
    del frame
    self._signal_name = signal.Signals(signum).name
    logging.warning("Received %s: stopping after the current step.", self._signal_name)

  def __enter__(self) -> "PreemptionGuard":
    if threading.current_thread() is threading.main_thread():
      self._previous = {s: signal.signal(s, self._handle) for s in _SIGNALS}
    return self

  def __exit__(self, *exc_info) -> None:
    for s, handler in self._previous.items():
      signal.signal(s, handler)
    self._previous = {}

  @property
  def signal_name(self) -> str | None:
    """Name of the signal received ("SIGTERM", ...), or None."""
    return self._signal_name

  def should_stop(self, step: int) -> bool:
    """True once a stop signal has arrived: on one process, at once; with several, at the first
    step that is a multiple of `check_every` after any process received one (a collective)."""
    requested = self._signal_name is not None
    if jax.process_count() == 1:
      return requested
    if step % self._check_every:
      return False
    return bool(np.any(multihost_utils.process_allgather(np.array(requested))))
