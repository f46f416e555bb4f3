"""The findings engine: pure rules over extracted `Report`s, registry `Unit`s and plain values.

Runs on one extracted file as well as on the database, so it imports neither the crawler, the storage, the
simulator nor the CLI. Rules and their severities: `RULES` (checks/findings.py).
"""

from checks.findings import ERROR, INFO, RULES, SEVERITIES, WARNING, Finding, Rule
from checks.history import check_history, narrative_similarity
from checks.narrative import Claim, narrative_claims
from checks.publication import (
    DEFAULT_POLICY,
    DeadlinePolicy,
    Version,
    check_publication,
    check_reachability,
    check_versions,
)
from checks.report import check_report
from checks.run import check_reports, level_from_name

__all__ = [
    "DEFAULT_POLICY",
    "ERROR",
    "INFO",
    "RULES",
    "SEVERITIES",
    "WARNING",
    "Claim",
    "DeadlinePolicy",
    "Finding",
    "Rule",
    "Version",
    "check_history",
    "check_publication",
    "check_reachability",
    "check_report",
    "check_reports",
    "check_versions",
    "level_from_name",
    "narrative_claims",
    "narrative_similarity",
]
