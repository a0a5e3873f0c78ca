from release_pipeline_tests.support import TRAFFIC_REPORTS

pytest_plugins = ["sandbox.pytest_plugin"]


def pytest_terminal_summary(terminalreporter):
    """Reports how many requests went through nginx during releases, and how many failed."""
    if TRAFFIC_REPORTS:
        terminalreporter.section("requests through nginx during releases and rollbacks")
        for line in TRAFFIC_REPORTS:
            terminalreporter.write_line(line)
