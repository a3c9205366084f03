"""The conformance harness: targets, observers, sessions, diff, verdicts, reports.

Not built yet (issue: "Harness engine"). Until then `eqmail-ref selfcheck` is the main job.
"""
