"""Hardware a step asks for: CPU, GPU or TPU, modelled on Marin's fray ``ResourceConfig``.

A ``ResourceConfig`` only says *where* a step runs. It is never part of a step's version hash:
changing the hardware of a step does not change its output path.

>>> ResourceConfig.with_tpu("v5e-16", slice_count=2).summary()
'tpu v5e-16 x2 (8 hosts, 32 chips)'
>>> ResourceConfig.with_gpu("H100", count=8).summary()
'gpu H100 x8'
>>> ResourceConfig.with_cpu().summary()
'cpu 1'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Literal, NamedTuple, Self, TypedDict, Unpack

from pydantic import BaseModel, Field, field_validator

__all__ = [
    "ANY_REGION",
    "KNOWN_GPU_TYPES",
    "KNOWN_TPU_TYPES",
    "TPU_HOST_RESOURCES",
    "CpuConfig",
    "DeviceConfig",
    "GpuConfig",
    "ResourceConfig",
    "TpuConfig",
]

ANY_REGION = "*"
"""Use ``regions=(ANY_REGION,)`` to run anywhere; ``regions=None`` inherits the parent's region."""

KNOWN_GPU_TYPES: tuple[str, ...] = (
    "A10", "A100-40G", "A100-80G", "A10G", "B100", "H100", "H200", "L4", "T4", "V100", "auto",
)  # fmt: skip

TPU_HOST_RESOURCES: Mapping[str, tuple[int, int]] = {
    "v4": (240, 400),
    "v5e": (112, 192),
    "v5p": (208, 448),
    "v6e": (180, 720),
}
"""Per-host ``(cpu count, ram in GB)`` of a TPU VM, by family."""


class _TpuShape(NamedTuple):
    chips_per_host: int
    hosts_per_slice: int


def _tpu_table() -> dict[str, _TpuShape]:
    table: dict[str, _TpuShape] = {}
    # v4 / v5p: the suffix counts TensorCores (2 per chip), 4 chips per host.
    for family, sizes in (
        ("v4", [2**i for i in range(3, 13)]),
        ("v5p", [*(2**i for i in range(3, 14)), 12288]),
    ):
        for cores in sizes:
            table[f"{family}-{cores}"] = _TpuShape(4, cores // 8)
    # v5e / v6e: the suffix counts chips; up to 8 chips fit on one host, else 4 per host.
    for family in ("v5e", "v6e"):
        for chips in (1, 4, 8, 16, 32, 64, 128, 256):
            table[f"{family}-{chips}"] = (
                _TpuShape(chips, 1) if chips <= 8 else _TpuShape(4, chips // 4)
            )
    return table


_TPU_SHAPES = _tpu_table()
KNOWN_TPU_TYPES: tuple[str, ...] = tuple(_TPU_SHAPES)


def _canonical_gpu_type(gpu_type: str) -> str:
    """Return the canonical spelling of ``gpu_type`` (case-insensitive), or raise ValueError."""
    for known in KNOWN_GPU_TYPES:
        if known.lower() == gpu_type.strip().lower():
            return known
    raise ValueError(
        f"Unknown GPU type {gpu_type!r}; known GPU types: {', '.join(KNOWN_GPU_TYPES)}"
    )


def _canonical_tpu_type(tpu_type: str) -> str:
    """Return the canonical TPU type (``v5litepod-N`` -> ``v5e-N``), or raise ValueError."""
    name = tpu_type.strip().lower()
    if name.startswith("v5litepod-"):
        name = "v5e-" + name.removeprefix("v5litepod-")
    if name in _TPU_SHAPES:
        return name
    families: dict[str, list[str]] = {}
    for known in KNOWN_TPU_TYPES:
        family, size = known.split("-")
        families.setdefault(family, []).append(size)
    listing = "; ".join(f"{f}-{{{','.join(sizes)}}}" for f, sizes in families.items())
    raise ValueError(
        f"Unknown TPU type {tpu_type!r}; known TPU families: {listing} "
        f"(v5litepod-N is accepted as an alias of v5e-N)"
    )


_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)([kmgt])$")


def _check_size(value: str) -> str:
    """Validate a size like ``"4g"``, ``"512m"`` or ``"1t"``; return it lower-cased."""
    normalized = value.strip().lower()
    if (match := _SIZE_RE.match(normalized)) is None or float(match.group(1)) <= 0:
        raise ValueError(
            f"Invalid size {value!r}: expected a positive number and k/m/g/t, e.g. '4g'"
        )
    return normalized


class CpuConfig(BaseModel, frozen=True, extra="forbid"):
    """No accelerator: ``CpuConfig()``."""

    kind: Literal["cpu"] = "cpu"


class GpuConfig(BaseModel, frozen=True, extra="forbid"):
    """``count`` GPUs of one type per replica; the type is matched case-insensitively.

    >>> GpuConfig(variant="h100", count=8).variant
    'H100'
    """

    kind: Literal["gpu"] = "gpu"
    variant: str
    count: int = Field(default=1, ge=1)

    @field_validator("variant")
    @classmethod
    def _known_variant(cls, value: str) -> str:
        return _canonical_gpu_type(value)


class TpuConfig(BaseModel, frozen=True, extra="forbid"):
    """``slice_count`` TPU slices of one type (``v4-8``, ``v5e-16``, ``v5litepod-16``, ...).

    >>> tpu = TpuConfig(variant="v5p-64")
    >>> (tpu.chips_per_host, tpu.hosts_per_slice, tpu.chips_per_slice)
    (4, 8, 32)
    """

    kind: Literal["tpu"] = "tpu"
    variant: str
    slice_count: int = Field(default=1, ge=1)

    @field_validator("variant")
    @classmethod
    def _known_variant(cls, value: str) -> str:
        return _canonical_tpu_type(value)

    @property
    def family(self) -> str:
        """``"v4"``, ``"v5e"``, ``"v5p"`` or ``"v6e"``."""
        return self.variant.split("-")[0]

    @property
    def chips_per_host(self) -> int:
        """TPU chips on each host (VM) of a slice."""
        return _TPU_SHAPES[self.variant].chips_per_host

    @property
    def hosts_per_slice(self) -> int:
        """Hosts (VMs) in one slice; fray calls this ``vm_count``."""
        return _TPU_SHAPES[self.variant].hosts_per_slice

    @property
    def chips_per_slice(self) -> int:
        """TPU chips in one slice."""
        return self.chips_per_host * self.hosts_per_slice

    @property
    def total_chips(self) -> int:
        """TPU chips over all slices."""
        return self.chips_per_slice * self.slice_count

    @property
    def total_hosts(self) -> int:
        """Hosts (VMs) over all slices."""
        return self.hosts_per_slice * self.slice_count


DeviceConfig = Annotated[CpuConfig | GpuConfig | TpuConfig, Field(discriminator="kind")]
"""A device, discriminated by its ``kind`` field."""


class _TpuKwargs(TypedDict, total=False):
    cpu: float
    ram: str
    disk: str
    preemptible: bool
    regions: tuple[str, ...] | None


class _GpuKwargs(_TpuKwargs, total=False):
    replicas: int


class _CpuKwargs(TypedDict, total=False):
    preemptible: bool
    regions: tuple[str, ...] | None
    replicas: int


class ResourceConfig(BaseModel, frozen=True, extra="forbid"):
    """What one step requests: host CPU/RAM/disk, a device, placement and replica count.

    >>> r = ResourceConfig.with_tpu("v4-8")
    >>> (r.device_kind, r.device_type, r.accelerator_count, r.replicas, r.cpu, r.ram)
    ('tpu', 'v4-8', 4, 1, 120.0, '200g')
    >>> ResourceConfig.from_json(r.to_json()) == r
    True
    """

    cpu: float = Field(default=1, gt=0, allow_inf_nan=False)
    ram: str = "4g"
    disk: str = "16g"
    device: DeviceConfig = CpuConfig()
    preemptible: bool = True
    regions: tuple[str, ...] | None = None
    replicas: int = Field(default=1, ge=1)

    @field_validator("ram", "disk")
    @classmethod
    def _valid_size(cls, value: str) -> str:
        return _check_size(value)

    @field_validator("regions")
    @classmethod
    def _valid_regions(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and (not value or any(not r.strip() for r in value)):
            raise ValueError("regions must be None or a non-empty list of non-empty region names")
        return value

    @classmethod
    def with_cpu(
        cls, *, cpu: float = 1, ram: str = "4g", disk: str = "16g", **kw: Unpack[_CpuKwargs]
    ) -> Self:
        """CPU only: ``ResourceConfig.with_cpu(cpu=4, ram="16g")``."""
        return cls(cpu=cpu, ram=ram, disk=disk, device=CpuConfig(), **kw)

    @classmethod
    def with_gpu(cls, gpu_type: str, count: int = 1, **kw: Unpack[_GpuKwargs]) -> Self:
        """``count`` GPUs per replica: ``ResourceConfig.with_gpu("H100", count=8)``."""
        return cls(device=GpuConfig(variant=_canonical_gpu_type(gpu_type), count=count), **kw)

    @classmethod
    def with_tpu(cls, tpu_type: str, slice_count: int = 1, **kw: Unpack[_TpuKwargs]) -> Self:
        """TPU slices: one replica per host, half a host's CPU/RAM and 50g disk by default.

        >>> ResourceConfig.with_tpu("v5e-16", slice_count=2).replicas
        8
        """
        if "replicas" in kw:
            raise TypeError("with_tpu() derives replicas (slice_count * hosts_per_slice)")
        device = TpuConfig(variant=_canonical_tpu_type(tpu_type), slice_count=slice_count)
        host_cpu, host_ram_gb = TPU_HOST_RESOURCES[device.family]
        defaults: _TpuKwargs = {"cpu": host_cpu / 2, "ram": f"{host_ram_gb // 2}g", "disk": "50g"}
        defaults.update(kw)
        return cls(device=device, replicas=device.total_hosts, **defaults)

    @property
    def device_kind(self) -> Literal["cpu", "gpu", "tpu"]:
        """``"cpu"``, ``"gpu"`` or ``"tpu"``."""
        return self.device.kind

    @property
    def device_type(self) -> str | None:
        """The GPU/TPU variant (``"H100"``, ``"v5e-16"``), or None for CPU."""
        return None if isinstance(self.device, CpuConfig) else self.device.variant

    @property
    def accelerator_count(self) -> int:
        """Accelerators per replica: TPU chips per host, GPU count, or 0 for CPU."""
        if isinstance(self.device, TpuConfig):
            return self.device.chips_per_host
        if isinstance(self.device, GpuConfig):
            return self.device.count
        return 0

    @property
    def tpu(self) -> TpuConfig | None:
        """The TPU device, or None when the device is not a TPU."""
        return self.device if isinstance(self.device, TpuConfig) else None

    @property
    def chips_per_host(self) -> int | None:
        """TPU chips per host, or None when the device is not a TPU."""
        return None if self.tpu is None else self.tpu.chips_per_host

    @property
    def hosts_per_slice(self) -> int | None:
        """Hosts (VMs) per TPU slice, or None when the device is not a TPU."""
        return None if self.tpu is None else self.tpu.hosts_per_slice

    @property
    def chips_per_slice(self) -> int | None:
        """TPU chips per slice, or None when the device is not a TPU."""
        return None if self.tpu is None else self.tpu.chips_per_slice

    @property
    def total_chips(self) -> int | None:
        """TPU chips over all slices, or None when the device is not a TPU."""
        return None if self.tpu is None else self.tpu.total_chips

    @property
    def total_hosts(self) -> int | None:
        """TPU hosts over all slices, or None when the device is not a TPU."""
        return None if self.tpu is None else self.tpu.total_hosts

    def to_json(self) -> str:
        """Compact JSON with sorted keys; equal configs give identical strings."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, data: str | bytes) -> Self:
        """Inverse of :meth:`to_json`; validates like the constructor."""
        return cls.model_validate_json(data)

    def summary(self) -> str:
        """A short human label, e.g. ``"tpu v5e-16 x2 (8 hosts, 32 chips)"`` or ``"cpu 1"``."""
        device = self.device
        if isinstance(device, TpuConfig):
            hosts, chips = device.total_hosts, device.total_chips
            return (
                f"tpu {device.variant} x{device.slice_count} "
                f"({hosts} host{'s' * (hosts != 1)}, {chips} chip{'s' * (chips != 1)})"
            )
        gpu = isinstance(device, GpuConfig)
        label = f"gpu {device.variant} x{device.count}" if gpu else f"cpu {self.cpu:g}"
        return label if self.replicas == 1 else f"{label}, {self.replicas} replicas"
