"""Trivy: image vulnerability scans gated on a severity threshold."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field

import dagster as dg
from pydantic import Field

from release_pipeline.errors import ScanError

SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
SCAN_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class ScanReport:
    """What a scan found; ``scanned`` is False when no scanner could run."""

    scanned: bool
    counts: dict[str, int] = field(default_factory=dict)
    blocking: int = 0
    threshold: str = "CRITICAL"

    def metadata(self) -> dict[str, object]:
        if not self.scanned:
            return {"scan": "not scanned"}
        return {"scan": "scanned", "scan_threshold": self.threshold, **self._count_metadata()}

    def _count_metadata(self) -> dict[str, int]:
        return {f"vulnerabilities_{name.lower()}": self.counts.get(name, 0) for name in SEVERITIES}


def summarize_report(report: dict, threshold: str) -> ScanReport:
    """Counts vulnerabilities by severity from a ``trivy --format json`` report."""
    counts: Counter[str] = Counter()
    for result in report.get("Results") or []:
        for vulnerability in result.get("Vulnerabilities") or []:
            severity = str(vulnerability.get("Severity", "UNKNOWN")).upper()
            counts[severity if severity in SEVERITIES else "UNKNOWN"] += 1
    gate = SEVERITIES.index(threshold)
    blocking = sum(counts[name] for name in SEVERITIES[gate:])
    return ScanReport(scanned=True, counts=dict(counts), blocking=blocking, threshold=threshold)


class TrivyResource(dg.ConfigurableResource):
    """Scans images with ``trivy image --format json``.

    The gate reads the JSON report, not Trivy's exit code. When Trivy is not
    installed the scan is reported as not done; ``require_scan`` turns that
    into a failure, as production policy should.
    """

    executable: str = Field(default="trivy", description="Trivy binary name or path.")
    severity_threshold: str = Field(
        default="CRITICAL", description="Lowest severity that blocks a release."
    )
    require_scan: bool = Field(default=False, description="Fail when no scanner is available.")

    def scan(self, image: str) -> ScanReport:
        threshold = self.severity_threshold.upper()
        if threshold not in SEVERITIES:
            raise ScanError(f"severity_threshold {threshold!r} must be one of {SEVERITIES}.")
        binary = shutil.which(self.executable)
        if binary is None:
            if self.require_scan:
                raise ScanError(
                    f"Trivy ({self.executable!r}) is not installed and require_scan is set;"
                    " install Trivy on the run host or the release cannot proceed."
                )
            return ScanReport(scanned=False, threshold=threshold)
        result = subprocess.run(
            [binary, "image", "--format", "json", "--quiet", image],
            capture_output=True,
            text=True,
            timeout=SCAN_TIMEOUT_SECONDS,
        )
        try:
            report = json.loads(result.stdout)
        except json.JSONDecodeError:
            raise ScanError(
                f"Trivy gave no JSON report for {image} (exit {result.returncode}):"
                f" {result.stderr.strip()[-500:]}"
            ) from None
        return summarize_report(report, threshold)
