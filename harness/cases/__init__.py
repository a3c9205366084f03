"""Cases as data: the case model (model.py), loading and validation of
`conformance/cases/**/*.toml` (load.py, check.py, tables.py). See conformance/README.md for
the format. Everything is importable from here: `from harness.cases import Case, load_catalogue`.
"""

from __future__ import annotations

from harness.cases.load import CATALOGUE_DIR, load_catalogue, load_file, select
from harness.cases.model import (
                                 CLIENTS,
                                 PINS,
                                 REMOTE_PINS,
                                 SMTPD_PINS,
                                 VERSIONS,
                                 Alternative,
                                 Case,
                                 CaseKind,
                                 Catalogue,
                                 ClientAuth,
                                 ClientScript,
                                 DnsEntry,
                                 Expectation,
                                 Grade,
                                 Greet,
                                 RelayAction,
                                 RelayPlan,
                                 RemoteJob,
                                 ScriptItem,
                                 Step,
                                 StepKind,
                                 Zone,
                                 to_bytes,
)

__all__ = [
    "Case", "Step", "RemoteJob", "Expectation", "Alternative", "RelayPlan", "RelayAction", "Greet",
    "ScriptItem", "DnsEntry", "Zone", "Catalogue", "StepKind", "CaseKind", "Grade",
    "load_catalogue", "load_file", "select", "to_bytes", "CATALOGUE_DIR", "VERSIONS", "PINS",
    "SMTPD_PINS", "REMOTE_PINS", "ClientScript", "ClientAuth", "CLIENTS", "CLIENT",
    "SEND", "STARTTLS", "CRAM_MD5", "CLOSE", "SMTPD", "REMOTE", "STRICT", "INFORMATIONAL",
]

# the enum members under their old names
SEND, STARTTLS, CRAM_MD5, CLOSE = StepKind.SEND, StepKind.STARTTLS, StepKind.CRAM_MD5, StepKind.CLOSE
SMTPD, REMOTE, CLIENT = CaseKind.SMTPD, CaseKind.REMOTE, CaseKind.CLIENT
STRICT, INFORMATIONAL = Grade.STRICT, Grade.INFORMATIONAL
