"""DORA metrics of the platform's releases, computed weekly from Dagster's run history."""

from release_pipeline.dora.asset import DORA_KEY, dora_definitions

__all__ = ["DORA_KEY", "dora_definitions"]
