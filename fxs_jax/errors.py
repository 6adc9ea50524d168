"""Errors caused by the user's input (config, paths, data), reported in one line by ``main``."""


class UserError(Exception):
  """A problem the user can fix; the message names the problem and the fix."""


class DatasetError(UserError):
  """A dataset folder is missing, incomplete or unreadable."""


class WorkdirError(UserError):
  """The work directory cannot be created or written."""
