import os
import stat

import pytest

from release_pipeline.errors import ScanError
from release_pipeline.resources.trivy import TrivyResource, summarize_report

REPORT = {
    "Results": [
        {"Vulnerabilities": [{"Severity": "HIGH"}, {"Severity": "LOW"}, {"Severity": "HIGH"}]},
        {"Vulnerabilities": None},
        {"Vulnerabilities": [{"Severity": "CRITICAL"}]},
    ]
}


def test_summarize_report_counts_by_severity_and_gates_at_the_threshold():
    report = summarize_report(REPORT, "HIGH")

    assert report.counts == {"HIGH": 2, "LOW": 1, "CRITICAL": 1}
    assert report.blocking == 3
    assert summarize_report(REPORT, "CRITICAL").blocking == 1


def test_summarize_report_of_a_clean_image_blocks_nothing():
    assert summarize_report({"Results": []}, "LOW").blocking == 0


def test_scan_without_trivy_installed_reports_not_scanned():
    report = TrivyResource(executable="trivy-not-installed-here").scan("any:1")

    assert report.scanned is False
    assert report.metadata() == {"scan": "not scanned"}


def test_scan_without_trivy_fails_when_policy_requires_a_scan():
    with pytest.raises(ScanError, match="require_scan"):
        TrivyResource(executable="trivy-not-installed-here", require_scan=True).scan("any:1")


def test_scan_reads_the_json_report_not_the_exit_code(tmp_path):
    # Trivy itself cannot be installed here; this script prints a real report
    # shape and exits 0, as `trivy image` does without --exit-code.
    fake = tmp_path / "trivy"
    fake.write_text(
        '#!/bin/sh\necho \'{"Results":[{"Vulnerabilities":[{"Severity":"CRITICAL"}]}]}\'\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)

    report = TrivyResource(executable=os.fspath(fake)).scan("any:1")

    assert report.scanned and report.blocking == 1
