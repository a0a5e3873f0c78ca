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
    +-- DeploymentFailed              a legitimate negative verdict: the new version was not
                                      healthy or failed its smoke tests, and traffic stayed on
                                      (or went back to) the version that was serving

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


class DeploymentFailed(ReleaseError):
    """The new version was refused; traffic stayed on the version that was serving."""
