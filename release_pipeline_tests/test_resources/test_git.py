import subprocess

import pytest

from release_pipeline.errors import ReleaseInputError
from release_pipeline.resources.git import GitResource


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "repo"
    path.mkdir()
    git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (path / "file").write_text("one\n")
    subprocess.run([*git, "add", "file"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    subprocess.run([*git, "checkout", "-qb", "feature"], check=True)
    (path / "file").write_text("two\n")
    subprocess.run([*git, "commit", "-qam", "two"], check=True)
    subprocess.run([*git, "checkout", "-q", "main"], check=True)
    return path


def test_checkout_of_a_branch_gives_its_commit_and_content(repo, tmp_path):
    git = GitResource(repo_url=str(repo), work_dir=str(tmp_path / "work"))

    checkout = git.checkout("feature", name="run1")

    assert (checkout.path / "file").read_text() == "two\n"
    assert len(checkout.commit) == 40


def test_checkout_of_an_unknown_ref_names_it(repo, tmp_path):
    git = GitResource(repo_url=str(repo), work_dir=str(tmp_path / "work"))

    with pytest.raises(ReleaseInputError, match="'nope' does not exist"):
        git.checkout("nope", name="run1")


@pytest.mark.parametrize("ref", ["--upload-pack=x", "a..b", "", "with space"])
def test_checkout_refuses_refs_that_are_not_names(repo, tmp_path, ref):
    git = GitResource(repo_url=str(repo), work_dir=str(tmp_path / "work"))

    with pytest.raises(ReleaseInputError, match="not a valid"):
        git.checkout(ref, name="run1")


def commit_of(repo, ref: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", ref], check=True, capture_output=True, text=True
    ).stdout.strip()


def shallow_clone(repo, dest):
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", "--no-single-branch", f"file://{repo}", str(dest)],
        check=True,
    )
    return dest


def test_is_ancestor_in_a_shallow_checkout_fetches_the_history_before_answering(repo, tmp_path):
    checkout = shallow_clone(repo, tmp_path / "checkout")
    git = GitResource(repo_url=str(repo), work_dir=str(tmp_path / "work"))

    older = git.is_ancestor(checkout, commit_of(repo, "main"), commit_of(repo, "feature"))

    assert older is True


def test_is_ancestor_says_unknown_when_the_origin_itself_is_shallow(repo, tmp_path):
    workspace = shallow_clone(repo, tmp_path / "workspace")  # as a CI job's --depth 1 clone
    subprocess.run(["git", "-C", str(workspace), "branch", "feature", "origin/feature"], check=True)
    git = GitResource(repo_url=str(workspace), work_dir=str(tmp_path / "work"))
    checkout = git.checkout("main", name="run1")

    older = git.is_ancestor(checkout.path, commit_of(repo, "main"), commit_of(repo, "feature"))

    assert older is None, "a cut history must not pass for 'not older'"
