"""Counting what a loader skipped, so that bad input is reported and never silently lost."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_SAMPLES = 5


@dataclass
class LoadStats:
    """What one loader read from one file.

    Attributes
    ----------
    source : str
        The file (or stream) name.
    lines : int
        Lines read, header excluded.
    events : int
        Events produced.
    bad_lines : int
        Lines that could not be parsed or failed validation; skipped.
    skipped : int
        Well-formed lines deliberately not converted (e.g. depth streams the replay does not use).
    samples : list[str]
        The first few bad lines, as ``"line N: reason"``, for the run summary.
    """

    source: str
    lines: int = 0
    events: int = 0
    bad_lines: int = 0
    skipped: int = 0
    samples: list[str] = field(default_factory=list)

    def bad(self, line_no: int, reason: str) -> None:
        """Count one bad line and keep a sample of the first few."""
        self.bad_lines += 1
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(f"line {line_no}: {reason}")

    def as_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {
            "source": self.source,
            "lines": self.lines,
            "events": self.events,
            "bad_lines": self.bad_lines,
            "skipped": self.skipped,
            "samples": list(self.samples),
        }
