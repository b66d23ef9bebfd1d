"""Errors that reach the user as one clear line instead of a library traceback."""


class UserError(Exception):
    """A problem with the user's input (config, data, weights) that they can fix.

    The message names the file or key at fault and what to do about it. The command
    line prints it on one line and exits with status 2.
    """


class ConfigError(UserError):
    """A config key or value that cannot be used."""


class DataError(UserError):
    """A dataset folder, manifest or video that cannot be used."""
