"""What is live and why: one image and one deployment asset per released service."""

from __future__ import annotations

import dagster as dg

from release_pipeline.catalog import Catalog, Service


def image_key(service: str) -> dg.AssetKey:
    return dg.AssetKey([service, "image"])


def deployment_key(service: str) -> dg.AssetKey:
    return dg.AssetKey([service, "deployment"])


def service_asset_specs(service: Service) -> list[dg.AssetSpec]:
    if service.image is None:
        return []
    image = dg.AssetSpec(
        key=image_key(service.name),
        description=f"The {service.image.name} image last pushed: digest, tag, commit, scan.",
        group_name="releases",
        kinds={"docker"},
        tags={"release/service": service.name},
    )
    deployment = dg.AssetSpec(
        key=deployment_key(service.name),
        description=f"What serves {service.name} traffic: color or weights, version, commit.",
        group_name="releases",
        deps=[image.key],
        tags={"release/service": service.name},
    )
    return [image, deployment]


def asset_specs(catalog: Catalog, services: list[str]) -> list[dg.AssetSpec]:
    return [spec for name in services for spec in service_asset_specs(catalog.service(name))]
