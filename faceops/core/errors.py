"""One exception type for problems the user can fix; the CLI and stages print it as one line."""


class FaceopsError(Exception):
    """A user-facing error: bad input, missing file, unreachable weights.

    The message names the file or setting at fault and, where possible, the fix.
    """


class ImageError(FaceopsError):
    """A photo that cannot be used; `reason` alone goes into reports beside the file name."""

    def __init__(self, path: str, reason: str, kind: str = "corrupt") -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.kind = kind  # empty, not_image, too_large, corrupt or unreadable: how a service should answer


class UsageError(FaceopsError):
    """Input that cannot be right (a bad name, a value out of range): the CLI exits 2, as for a bad option."""
