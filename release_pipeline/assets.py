"""What is live and why: one image and one deployment asset per released service."""

from __future__ import annotations

import dagster as dg

from release_pipeline.catalog import Catalog, Service


def image_key(service: str) -> dg.AssetKey:
    return dg.AssetKey([service, "image"])


def deployment_key(service: str) -> dg.AssetKey:
    return dg.AssetKey([service, "deployment"])


def site_key(service: str) -> dg.AssetKey:
    return dg.AssetKey([service, "site"])


def models_key(service: str) -> dg.AssetKey:
    return dg.AssetKey([service, "models"])


def models_spec(service: Service) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=models_key(service.name),
        description=f"The {service.name} model files last retrained: S3 folder, SHA-256, commit.",
        group_name="models",
        kinds={"s3"},
        tags={"release/service": service.name},
    )


def service_asset_specs(service: Service) -> list[dg.AssetSpec]:
    if service.strategy.kind == "static_site":
        site = dg.AssetSpec(
            key=site_key(service.name),
            description=f"The {service.name} deployment in production: id, version, commit.",
            group_name="releases",
            kinds={"html"},
            tags={"release/service": service.name},
        )
        return [site]
    if service.image is None:
        return []
    image = dg.AssetSpec(
        key=image_key(service.name),
        description=f"The {service.image.name} image last pushed: digest, tag, commit, scan.",
        group_name="releases",
        kinds={"docker"},
        tags={"release/service": service.name},
        deps=[models_key(service.name)] if service.training else [],
    )
    deployment = dg.AssetSpec(
        key=deployment_key(service.name),
        description=f"What serves {service.name} traffic: color or weights, version, commit.",
        group_name="releases",
        deps=[image.key],
        tags={"release/service": service.name},
    )
    return [image, deployment] + ([models_spec(service)] if service.training else [])


def asset_specs(catalog: Catalog, services: list[str]) -> list[dg.AssetSpec]:
    return [spec for name in services for spec in service_asset_specs(catalog.service(name))]
