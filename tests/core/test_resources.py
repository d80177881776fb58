"""Tests for marin_dagster.core.resources."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from marin_dagster.core.resources import (
    KNOWN_GPU_TYPES,
    KNOWN_TPU_TYPES,
    CpuConfig,
    GpuConfig,
    ResourceConfig,
    TpuConfig,
)

_MODULE_PATH = Path(__file__).resolve().parents[2] / "marin_dagster" / "core" / "resources.py"

# --- TPU topology ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tpu_type", "chips_per_host", "hosts", "chips"),
    [
        ("v4-8", 4, 1, 4),
        ("v4-16", 4, 2, 8),
        ("v4-32", 4, 4, 16),
        ("v4-4096", 4, 512, 2048),
        ("v5p-8", 4, 1, 4),
        ("v5p-64", 4, 8, 32),
        ("v5p-8192", 4, 1024, 4096),
        ("v5e-1", 1, 1, 1),
        ("v5e-4", 4, 1, 4),
        ("v5e-8", 8, 1, 8),
        ("v5e-16", 4, 4, 16),
        ("v5e-256", 4, 64, 256),
        ("v6e-1", 1, 1, 1),
        ("v6e-8", 8, 1, 8),
        ("v6e-64", 4, 16, 64),
    ],
)
def test_tpu_derived_counts(tpu_type: str, chips_per_host: int, hosts: int, chips: int) -> None:
    r = ResourceConfig.with_tpu(tpu_type)
    assert r.chips_per_host == chips_per_host
    assert r.hosts_per_slice == hosts
    assert r.chips_per_slice == chips
    assert r.total_chips == chips
    assert r.total_hosts == hosts
    assert r.replicas == hosts
    assert r.accelerator_count == chips_per_host
    assert r.device_kind == "tpu"
    assert r.device_type == tpu_type


def test_slice_count_doubles_totals_and_replicas() -> None:
    one = ResourceConfig.with_tpu("v5e-16")
    two = ResourceConfig.with_tpu("v5e-16", slice_count=2)
    assert (one.total_chips, two.total_chips) == (16, 32)
    assert (one.total_hosts, two.total_hosts) == (4, 8)
    assert two.replicas == 2 * one.replicas == 8
    # Per-slice and per-host numbers do not change with slice_count.
    assert (two.chips_per_host, two.hosts_per_slice, two.chips_per_slice) == (4, 4, 16)
    assert two.accelerator_count == 4
    assert two.tpu is not None and two.tpu.slice_count == 2


def test_known_tpu_types_cover_documented_families() -> None:
    v4 = {f"v4-{2**i}" for i in range(3, 13)}
    v5p = {f"v5p-{2**i}" for i in range(3, 14)}
    small = {1, 4, 8, 16, 32, 64, 128, 256}
    v5e = {f"v5e-{n}" for n in small}
    v6e = {f"v6e-{n}" for n in small}
    assert v4 | v5p | v5e | v6e <= set(KNOWN_TPU_TYPES)
    assert "v4-4" not in KNOWN_TPU_TYPES
    assert "v4-8192" not in KNOWN_TPU_TYPES
    for name in KNOWN_TPU_TYPES:
        tpu = TpuConfig(variant=name)
        if name.startswith(("v4-", "v5p-")):
            assert tpu.chips_per_slice * 2 == int(name.split("-")[1])
        else:
            assert tpu.chips_per_slice == int(name.split("-")[1])


def test_v5litepod_alias_is_canonicalised_to_v5e() -> None:
    alias = ResourceConfig.with_tpu("v5litepod-16")
    assert alias.device_type == "v5e-16"
    assert alias == ResourceConfig.with_tpu("v5e-16")
    assert TpuConfig(variant="v5litepod-4").variant == "v5e-4"
    assert TpuConfig(variant="V5E-8").variant == "v5e-8"


@pytest.mark.parametrize(
    ("tpu_type", "cpu", "ram"),
    [("v4-8", 120, "200g"), ("v5e-16", 56, "96g"), ("v5p-64", 104, "224g"), ("v6e-8", 90, "360g")],
)
def test_with_tpu_defaults_to_half_a_host(tpu_type: str, cpu: float, ram: str) -> None:
    r = ResourceConfig.with_tpu(tpu_type)
    assert r.cpu == cpu
    assert r.ram == ram
    assert r.disk == "50g"
    assert r.preemptible is True
    assert r.regions is None


def test_with_tpu_kwargs_override_defaults() -> None:
    r = ResourceConfig.with_tpu(
        "v5p-8", cpu=16, ram="64g", disk="1t", preemptible=False, regions=("us-central1",)
    )
    assert (r.cpu, r.ram, r.disk) == (16, "64g", "1t")
    assert r.preemptible is False
    assert r.regions == ("us-central1",)
    assert r.replicas == 1
    # Only the given keys change; the others keep the TPU defaults.
    partial = ResourceConfig.with_tpu("v4-8", ram="100g")
    assert (partial.cpu, partial.ram, partial.disk) == (120, "100g", "50g")


def test_with_tpu_rejects_explicit_replicas() -> None:
    kwargs: dict[str, Any] = {"replicas": 3}
    with pytest.raises(TypeError, match="replicas"):
        ResourceConfig.with_tpu("v4-8", **kwargs)


@pytest.mark.parametrize("bad", ["v3-8", "v4-4", "v5e-2", "v6e-512", "v5p-7", "tpu", "", "v4"])
def test_unknown_tpu_type_names_it_and_lists_families(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        ResourceConfig.with_tpu(bad)
    message = str(info.value)
    assert repr(bad) in message
    for family in ("v4-", "v5e-", "v5p-", "v6e-", "v5litepod-"):
        assert family in message


def test_unknown_tpu_type_rejected_on_direct_construction_and_json() -> None:
    with pytest.raises(ValidationError, match="v9-8"):
        TpuConfig(variant="v9-8")
    payload = json.loads(ResourceConfig.with_tpu("v4-8").to_json())
    payload["device"]["variant"] = "v9-8"
    with pytest.raises(ValidationError, match="v9-8"):
        ResourceConfig.from_json(json.dumps(payload))


def test_slice_count_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        ResourceConfig.with_tpu("v4-8", slice_count=0)


# --- GPU and CPU --------------------------------------------------------------------------------


def test_with_gpu() -> None:
    r = ResourceConfig.with_gpu("H100", count=8)
    assert r.device == GpuConfig(variant="H100", count=8)
    assert (r.device_kind, r.device_type, r.accelerator_count) == ("gpu", "H100", 8)
    assert (r.cpu, r.ram, r.disk, r.replicas) == (1, "4g", "16g", 1)
    assert r.total_chips is None and r.chips_per_host is None and r.tpu is None


@pytest.mark.parametrize("gpu_type", KNOWN_GPU_TYPES)
def test_every_known_gpu_type_is_accepted(gpu_type: str) -> None:
    r = ResourceConfig.with_gpu(gpu_type)
    assert r.device_type == gpu_type
    assert r.accelerator_count == 1


def test_gpu_type_is_case_insensitive_and_canonicalised() -> None:
    assert ResourceConfig.with_gpu("a100-80g").device_type == "A100-80G"
    assert ResourceConfig.with_gpu("h100") == ResourceConfig.with_gpu("H100")


@pytest.mark.parametrize("bad", ["RTX4090", "H1000", "", "tpu"])
def test_unknown_gpu_type_names_it_and_lists_known(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        ResourceConfig.with_gpu(bad)
    message = str(info.value)
    assert repr(bad) in message
    assert all(known in message for known in KNOWN_GPU_TYPES)
    with pytest.raises(ValidationError):
        GpuConfig(variant=bad)


def test_gpu_count_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        ResourceConfig.with_gpu("H100", count=0)


def test_with_gpu_kwargs_override() -> None:
    r = ResourceConfig.with_gpu("L4", count=2, cpu=8, ram="32g", replicas=3, preemptible=False)
    assert (r.cpu, r.ram, r.replicas, r.preemptible, r.accelerator_count) == (8, "32g", 3, False, 2)


def test_with_cpu_and_defaults() -> None:
    default = ResourceConfig()
    assert default == ResourceConfig.with_cpu()
    assert default.device == CpuConfig()
    assert (default.cpu, default.ram, default.disk) == (1, "4g", "16g")
    assert (default.preemptible, default.regions, default.replicas) == (True, None, 1)
    assert (default.device_kind, default.device_type, default.accelerator_count) == ("cpu", None, 0)
    assert default.total_hosts is None and default.hosts_per_slice is None
    r = ResourceConfig.with_cpu(cpu=4, ram="16g", disk="100g", replicas=2, regions=("*",))
    assert (r.cpu, r.ram, r.disk, r.replicas, r.regions) == (4, "16g", "100g", 2, ("*",))


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cpu": 0},
        {"cpu": -1},
        {"cpu": float("inf")},
        {"replicas": 0},
        {"ram": "4"},
        {"ram": "4gb"},
        {"ram": "0g"},
        {"ram": "-1g"},
        {"ram": "lots"},
        {"disk": "16x"},
        {"disk": ""},
        {"regions": ()},
        {"regions": ("",)},
        {"gpus": 1},
        {"device": {"kind": "fpga"}},
        {"device": {"kind": "gpu"}},
        {"device": {"kind": "cpu", "variant": "cpu"}},
    ],
)
def test_invalid_fields_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ResourceConfig(**kwargs)


@pytest.mark.parametrize("size", ["4g", "512m", "1t", "64k", "1.5g", "16G"])
def test_valid_sizes_are_accepted_and_lower_cased(size: str) -> None:
    r = ResourceConfig(ram=size, disk=size)
    assert r.ram == r.disk == size.lower()


def test_regions_accept_a_list_and_store_a_tuple() -> None:
    r = ResourceConfig.model_validate({"regions": ["us-central1", "europe-west4"]})
    assert r.regions == ("us-central1", "europe-west4")


# --- immutability, hashing, JSON -----------------------------------------------------------------


def test_frozen_and_hashable() -> None:
    r = ResourceConfig.with_tpu("v5e-16", slice_count=2)
    with pytest.raises(ValidationError):
        r.cpu = 3  # type: ignore[misc]
    with pytest.raises(ValidationError):
        r.device.slice_count = 3  # type: ignore[misc]
    same = ResourceConfig.with_tpu("v5e-16", slice_count=2)
    assert r == same and hash(r) == hash(same)
    assert len({r, same, ResourceConfig.with_tpu("v5e-16"), ResourceConfig()}) == 3


_CONFIGS = [
    ResourceConfig(),
    ResourceConfig.with_cpu(cpu=0.5, ram="512m", disk="1t", preemptible=False),
    ResourceConfig.with_cpu(cpu=32, replicas=4, regions=("us-central1", "us-east5")),
    ResourceConfig.with_gpu("H100", count=8),
    ResourceConfig.with_gpu("auto", regions=("*",), replicas=2),
    ResourceConfig.with_gpu("A100-40G", cpu=12, ram="85g"),
    ResourceConfig.with_tpu("v4-8"),
    ResourceConfig.with_tpu("v4-4096", slice_count=2),
    ResourceConfig.with_tpu("v5e-1"),
    ResourceConfig.with_tpu("v5litepod-16", slice_count=2, preemptible=False),
    ResourceConfig.with_tpu("v5p-64", cpu=50, ram="100g", disk="200g"),
    ResourceConfig.with_tpu("v6e-256", slice_count=4, regions=("europe-west4",)),
]


@pytest.mark.parametrize("config", _CONFIGS, ids=[c.summary() for c in _CONFIGS])
def test_json_round_trip(config: ResourceConfig) -> None:
    text = config.to_json()
    back = ResourceConfig.from_json(text)
    assert back == config
    assert hash(back) == hash(config)
    assert back.to_json() == text
    assert " " not in text
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert json.loads(text)["device"]["kind"] == config.device_kind


def test_json_keys_are_sorted_at_every_level() -> None:
    text = ResourceConfig.with_tpu("v5e-16", slice_count=2).to_json()
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    assert text.index('"cpu"') < text.index('"device"') < text.index('"disk"')
    assert text.index('"kind"') < text.index('"slice_count"') < text.index('"variant"')


def test_json_matches_golden_string() -> None:
    text = ResourceConfig.with_tpu("v5e-16", slice_count=2, regions=("b", "a")).to_json()
    assert text == (
        '{"cpu":56.0,"device":{"kind":"tpu","slice_count":2,"variant":"v5e-16"},"disk":"50g",'
        '"preemptible":true,"ram":"96g","regions":["b","a"],"replicas":8}'
    )


# --- summary and layering -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (ResourceConfig.with_tpu("v5e-16", slice_count=2), "tpu v5e-16 x2 (8 hosts, 32 chips)"),
        (ResourceConfig.with_tpu("v4-8"), "tpu v4-8 x1 (1 host, 4 chips)"),
        (ResourceConfig.with_tpu("v5e-1"), "tpu v5e-1 x1 (1 host, 1 chip)"),
        (ResourceConfig.with_gpu("H100", count=8), "gpu H100 x8"),
        (ResourceConfig.with_cpu(), "cpu 1"),
        (ResourceConfig.with_cpu(cpu=0.5), "cpu 0.5"),
        (ResourceConfig.with_cpu(cpu=2, replicas=3), "cpu 2, 3 replicas"),
    ],
)
def test_summary(config: ResourceConfig, expected: str) -> None:
    assert config.summary() == expected


def test_module_does_not_import_dagster() -> None:
    # Load the file on its own so that a package __init__ importing dagster does not interfere.
    code = (
        "import importlib.util, sys;"
        f"spec = importlib.util.spec_from_file_location('_res', {str(_MODULE_PATH)!r});"
        "mod = importlib.util.module_from_spec(spec); sys.modules['_res'] = mod;"
        "spec.loader.exec_module(mod);"
        "assert mod.ResourceConfig.with_tpu('v4-8').total_chips == 4;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'dagster'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "[]"
