"""The post-deploy verification op: the service's thresholds through Prometheus for a bake."""

from dataclasses import replace

import dagster as dg
from pydantic import Field, ValidationError

from release_pipeline.assets import deployment_key
from release_pipeline.catalog import Service, Verification, default_catalog
from release_pipeline.errors import ReleaseInputError, VerificationFailed
from release_pipeline.resources.email import EmailResource
from release_pipeline.resources.pagerduty import PagerDutyResource
from release_pipeline.resources.prometheus import PrometheusResource
from release_pipeline.resources.slack import SlackResource
from release_pipeline.steps.context import release_step, service_of
from release_pipeline.steps.notify import run_url
from release_pipeline.strategies.deployment import Deployment
from release_pipeline.verification import Alerts, Outcome, Report, Settings, verify


class VerifyConfig(dg.Config):
    """Per-run overrides of the catalog's bake (tests shorten it; nothing is skipped)."""

    bake_seconds: float | None = Field(default=None, description="How long to watch.")
    interval_seconds: float | None = Field(default=None, description="Between measurements.")
    scrape_wait_seconds: float | None = Field(
        default=None, description="Longest wait for Prometheus to scrape the new containers."
    )
    min_requests: float | None = Field(
        default=None, description="Requests a traffic check needs in its window to judge."
    )

    def resolve(self, verification: Verification) -> Settings:
        """The bake of this run, validated like the catalog itself."""
        timing = {
            key: value
            for key in ("bake_seconds", "interval_seconds", "scrape_wait_seconds")
            if (value := getattr(self, key)) is not None
        }
        try:
            verification = Verification.model_validate({**verification.model_dump(), **timing})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'timing'}: {e['msg']}" for e in exc.errors()
            )
            raise ReleaseInputError(f"verify_release config is not valid: {problems}") from None
        if self.min_requests is not None and self.min_requests <= 0:
            raise ReleaseInputError("verify_release config is not valid: min_requests must be > 0")
        return Settings.of(verification, min_requests=self.min_requests)


def check_verify_config(run_config: dict, service: Service) -> None:
    """Validates a run's ``verify_release`` overrides against ``service``'s catalog bake.

    Called before anything is built or deployed, so a bad override fails while the
    live version still serves untouched, not after traffic moved.
    """
    ops = (run_config or {}).get("ops") or {}
    raw = (ops.get("verify_release") or {}).get("config")
    if not raw or service.verification is None:
        return
    try:
        config = VerifyConfig(**raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ReleaseInputError(f"verify_release config is not valid: {problems}") from None
    config.resolve(service.verification)


@dg.op(
    description=(
        "Watches the service's post-deploy thresholds through Prometheus for its bake window;"
        " each breach goes to PagerDuty, Slack or email as the catalog says, and fails the run"
        " without moving traffic; so does a bake that measured nothing. Checks not measured"
        " are told to Slack."
    ),
    out=dg.Out(Deployment),
)
def verify_release(
    context: dg.OpExecutionContext,
    config: VerifyConfig,
    deployment: Deployment,
    prometheus: PrometheusResource,
    slack: SlackResource,
    pagerduty: PagerDutyResource,
    email: EmailResource,
):
    # A generator, so the observation is recorded even when the breach then fails the step.
    service = service_of(context)
    if service.verification is None:
        context.log.info(f"{service.name} declares no post-deploy verification.")
        yield dg.Output(deployment)
        return
    alerts = Alerts(
        slack=slack,
        pagerduty=pagerduty,
        email=email,
        channel=default_catalog().platform.slack_channel,
        log=context.log,
    )
    report = _bake(context, config, service, deployment, prometheus, alerts)
    yield dg.AssetObservation(
        asset_key=deployment_key(service.name),
        description=f"{service.name} {report.version} post-deploy verification: {report.verdict}",
        metadata={**report.metadata(), "version": report.version},
    )
    for run in report.of(Outcome.NOT_MEASURED):
        context.log.warning(f"Not measured, so not verified: {run.summary()}.")
    if report.of(Outcome.NOT_MEASURED):
        # Not measured is never a pass: people hear of it, not only the run's logs.
        text = report.warning(run_url(context.run_id))
        slack.post(alerts.channel, text, context.log, color="warning")
    if report.verdict.fails:
        _refuse(report)
    context.log.info(f"{service.name} {deployment.version} verification: {report.verdict}.")
    facts = report.metadata()
    summary = ("verification", "breached", "not_measured", "checks")
    verified = replace(
        deployment, verification=report.verdict.value, not_verified=report.not_measured()
    )
    yield dg.Output(verified, metadata={key: facts[key] for key in summary})


@release_step
def _bake(context, config: VerifyConfig, service: Service, deployment, prometheus, alerts):
    return verify(
        prometheus,
        service.verification.checks,
        (service.name, deployment.version),
        config.resolve(service.verification),
        context.log,
        alerts,
        run_url(context.run_id),
    )


@release_step
def _refuse(report: Report) -> None:
    """Fails the step with the breaches (or the checks nobody measured), the alerts sent
    and the rollback job to run."""
    raise VerificationFailed(report.failure_message(), report.metadata())
