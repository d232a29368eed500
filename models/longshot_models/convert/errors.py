"""The converter's one error type: a message naming what is wrong and where (the CLI prints it and exits 2)."""


class ConvertError(Exception):
    """A checkpoint folder or option the converter cannot turn into a pack; the message says what is wrong."""
