"""The one exception type that the CLI turns into a single clear error line."""


class UserError(Exception):
    """Bad input from the user: the message names the problem and the fix."""
