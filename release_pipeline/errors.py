"""Errors raised by the release pipeline.

Every failure a user can meet is one of these, and each message names what is
wrong and what to do about it. The tree is small on purpose::

    ReleaseError                      base of everything below
    +-- CatalogError                  catalog.yaml is invalid or names an unknown service
    +-- ReleaseInputError             bad run input: version string, git ref, missing Dockerfile
    +-- CommandError                  a stage command exited non-zero or timed out
    +-- DockerError                   the Docker engine refused a build, run or remove
    +-- RegistryError                 login, push or digest lookup against the registry failed
    +-- ScanError                     the image scan found too much, or could not run under policy
    +-- LoadBalancerError             nginx rejected a config or could not reload
    +-- DeployLockError               another deploy of the same service holds the lock
    +-- PrometheusError               Prometheus was unreachable or refused a query (the
                                      canary analysis records it as an Error measurement)
    +-- PublishError                  a static site could not be published or activated
    +-- BackupError                   pg_dump, the upload to S3, its read-back or pg_restore failed
    +-- MigrationError                the target database refused a connection or a migration
                                      file, an applied file changed, or the schema check failed
    +-- ApprovalRefused               a legitimate negative verdict: no current, unexpired approval
                                      by someone other than the requester covers this plan
    +-- ReleaseRefused                a legitimate negative verdict: a guard refused the change (a
                                      commit older than the live one, or a freeze window), and
                                      nothing changed
    +-- DeploymentFailed              a legitimate negative verdict: the new version was not
                                      healthy or failed its smoke tests, and traffic stayed on
                                      (or went back to) the version that was serving
        +-- AnalysisFailed            the canary's analysis said no; its measurements are attached
    +-- SwitchBackFailed              a release failed after it took traffic, and moving the traffic
                                      back to the version that served before failed too:
                                      production may serve the failed version (paged)
    +-- VerificationFailed            the new version is live but breached a post-deploy threshold;
                                      traffic was not moved, the message says how to roll back

A ``DeploymentFailed`` is not a crash: the pipeline did its job and refused a
bad release. It is kept apart so callers can tell the two situations apart.
"""


class ReleaseError(Exception):
    """Base class of every error the release pipeline raises on purpose."""


class CatalogError(ReleaseError):
    """The catalog is invalid, or a name does not match any service in it."""


class ReleaseInputError(ReleaseError):
    """A release was asked for with input that cannot be released."""


class CommandError(ReleaseError):
    """A command run for a stage exited non-zero or ran past its timeout."""


class DockerError(ReleaseError):
    """The Docker engine failed to build, start or remove something."""


class RegistryError(ReleaseError):
    """The image registry refused a login or push, or a digest could not be read."""


class ScanError(ReleaseError):
    """The image scan found vulnerabilities at or above the threshold, or was required."""


class LoadBalancerError(ReleaseError):
    """nginx rejected a rendered config or failed to reload."""


class DeployLockError(ReleaseError):
    """Another deploy of the same service holds the deploy lock."""


class PublishError(ReleaseError):
    """A static site build could not be published or made live."""


class BackupError(ReleaseError):
    """A database backup could not be taken, stored, read back or restored."""


class MigrationError(ReleaseError):
    """The target database or a migration failed, or the ledger disagrees with the files."""


class ApprovalRefused(ReleaseError):
    """Nothing was applied or restored: no current, unexpired approval by another person."""


class ReleaseRefused(ReleaseError):
    """A guard refused a production change; the message says how to override it on purpose."""


class DeploymentFailed(ReleaseError):
    """The new version was refused; traffic stayed on the version that was serving."""


class SwitchBackFailed(ReleaseError):
    """A release that took traffic failed, and the traffic could not be moved back.

    Unlike ``DeploymentFailed``, traffic did not stay on what was serving: the
    paging sensor pages the on-call for the release run that raised it.
    """


class PrometheusError(ReleaseError):
    """Prometheus did not answer, or answered a query with an error."""


class AnalysisFailed(DeploymentFailed):
    """The canary analysis did not pass; stable serves all traffic and the canary is gone.

    ``metadata`` holds the verdict and every measurement with its resolved query,
    so the run shows why the canary was refused.
    """

    def __init__(self, message: str, metadata: dict[str, object]) -> None:
        super().__init__(message)
        self.metadata = metadata


class VerificationFailed(ReleaseError):
    """The new version serves, but breached a post-deploy threshold during its bake.

    Traffic is not moved back automatically; the message names the rollback job.
    ``metadata`` holds every check's outcome and measurements.
    """

    def __init__(self, message: str, metadata: dict[str, object]) -> None:
        super().__init__(message)
        self.metadata = metadata
