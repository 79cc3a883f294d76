"""One exception type for bad input, always naming the file and the frame."""
from __future__ import annotations

from typing import Optional


class DataError(ValueError):
    """Bad input data.

    The message always starts with ``<file>[, frame <i>]:`` so that a user can
    find the offending frame. The CLI prints it as one line, without traceback.
    """

    def __init__(self, source: Optional[str], frame: Optional[int], message: str):
        self.source = source
        self.frame = frame
        self.reason = message
        where = str(source) if source is not None else "<memory>"
        if frame is not None:
            where += f", frame {frame}"
        super().__init__(f"{where}: {message}")
