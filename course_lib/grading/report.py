"""What a check hands back: ``CheckReport`` when the student's class passes, ``CheckFailed`` when not."""

from __future__ import annotations

from dataclasses import dataclass, field


class CheckFailed(AssertionError):
    """A check found a difference from torch.nn. ``mistake`` is the key of the diagnosed mistake
    (e.g. ``"gate_order:ifog"``) or None when none of the known ones reproduces the output."""

    def __init__(self, message: str, mistake: str | None = None):
        super().__init__(message)
        self.mistake = mistake


@dataclass(repr=False)
class CheckReport:
    """What passed. Its text (and its green HTML in a notebook) is the success message."""

    student: str
    reference: str
    checks: list[str] = field(default_factory=list)
    max_error: float = 0.0

    def __repr__(self) -> str:
        return (
            f"✓ {self.student} matches {self.reference}: {', '.join(self.checks)} "
            f"(largest difference {self.max_error:.1e})"
        )

    def _repr_html_(self) -> str:
        return f'<p style="color:#1a7f37;font-weight:bold">{self!r}</p>'


# Tracebacks print an exception's module: the labs show the public name, course_lib.grading.CheckFailed.
CheckFailed.__module__ = CheckReport.__module__ = "course_lib.grading"
