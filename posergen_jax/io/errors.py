"""Errors a user can fix: the one base class the entry points catch and print as one line.

Each error names the input at fault (a config field, a flag, a file) and what to do. Classes
elsewhere add `UserError` beside the built-in type they already were (`FileNotFoundError`,
`ValueError`, ...), so `except UserError` catches exactly these while any other exception, a real
bug, keeps its traceback. Errors raised inside tf.data functions stay built-in types: autograph
re-raises only those.
"""


class UserError(Exception):
  """A bad input, named in the message; raised before anything already written is lost."""


class ConfigError(UserError, ValueError):
  """A config value that cannot work (names the `config.` field and what it accepts)."""


class InputError(UserError, ValueError):
  """A bad prompt, flag or input file (names it)."""


class MissingFileError(UserError, FileNotFoundError):
  """A file or folder the run needs is not there (names it and how to make it)."""
