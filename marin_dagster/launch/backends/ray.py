"""Placeholder for the Ray backend's settings (the backend itself lands separately)."""

from pydantic import BaseModel, Field


class RayBackendConfig(BaseModel, frozen=True, extra="forbid"):
    address: str = Field(description="Ray cluster address as ray.init takes it.")
    max_concurrent: int | None = Field(default=None, ge=1)
