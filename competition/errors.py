"""Layer 1. Errors raised at the library's boundaries.

Every message names the file, row or value at fault and says what to do.
"""


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
