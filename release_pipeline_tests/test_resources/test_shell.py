import pytest

from release_pipeline.errors import CommandError
from release_pipeline.resources.shell import ShellResource


def test_run_returns_the_output_tail(tmp_path):
    output = ShellResource().run("echo one; echo two", cwd=tmp_path, timeout_seconds=10)

    assert output == "one\ntwo\n"


def test_run_failure_names_the_stage_the_code_and_the_output(tmp_path):
    with pytest.raises(CommandError) as error:
        ShellResource().run(
            "echo lint found 3 problems; exit 3", cwd=tmp_path, timeout_seconds=10, label="lint"
        )

    assert "'lint' exited with code 3" in str(error.value)
    assert "lint found 3 problems" in str(error.value)


def test_run_stops_a_command_past_its_timeout(tmp_path):
    with pytest.raises(CommandError, match="timeout"):
        ShellResource().run("sleep 30", cwd=tmp_path, timeout_seconds=0.5)


def test_run_does_not_pass_secrets_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("JWT_SECRET", "do-not-leak")

    output = ShellResource().run(
        'echo "secret=${JWT_SECRET:-unset} given=$GIVEN"',
        cwd=tmp_path,
        timeout_seconds=10,
        env={"GIVEN": "yes"},
    )

    assert output == "secret=unset given=yes\n"
