"""Layer 1. Errors raised at the library's boundaries.

Every message names the file, row or value at fault and says what to do.
"""

import difflib
from collections.abc import Iterable


class CompetitionError(Exception):
    """Base class of the errors this package raises on bad input."""


class DataError(CompetitionError, ValueError):
    """A competition directory, CSV or image is not what the contract asks."""


class ChecksumError(DataError):
    """Fetched or found data does not match its pinned checksum."""


class ConfigError(CompetitionError, ValueError):
    """An unknown name or an invalid option value."""


class CheckpointError(CompetitionError, ValueError):
    """A checkpoint is missing, corrupt or does not fit the model."""


class StoreError(CompetitionError):
    """A result-store entry is unreadable."""


def closest(name: str, known: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The known name closest to a mistyped one, or None when none is close (difflib's ratio >= cutoff)."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """The hint ' (did you mean 'x'?)' naming the known name closest to a mistyped one; '' when none is."""
    close = closest(name, known)
    return f" (did you mean {close!r}?)" if close else ""
