"""Property-based differential sessions (hypothesis): generated SMTP sessions played against
the reference and a target (both Sides, harness.drive.side), disagreements shrunk, saved as
replayable cases.

    python -m harness.property --target SPEC [--against ref] --max-examples N --seed S --out DIR
    python -m harness.property replay FINDING.toml --target SPEC [--against ref]
"""

from harness.property.machine import Finding, Step, explore, play

__all__ = ["Finding", "Step", "explore", "play"]
