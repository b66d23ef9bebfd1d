"""Errors that reach the user as one clear line instead of a library traceback."""


class UserError(Exception):
    """A problem with the user's input (config, data, weights) that they can fix. The message names the file or
    key at fault and what to do about it; the command line prints it on one line and exits with status 2."""


def user_message(error: BaseException) -> str:
    """The message to print for a user error. One raised in a DataLoader worker comes back wrapped by torch
    ("Caught DataError in DataLoader worker process 0. Original Traceback ..."): the original is its last line."""
    message = str(error)
    if message.startswith("Caught ") and "Original Traceback" in message:
        last = message.strip().splitlines()[-1]
        name = f"{type(error).__name__}: "
        message = last.split(name, 1)[1] if name in last else last
    return message


class ConfigError(UserError):
    """A config key or value that cannot be used."""


class DataError(UserError):
    """A dataset folder, manifest or video that cannot be used."""
