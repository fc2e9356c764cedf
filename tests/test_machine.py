"""Benchmarks name the CPU model they ran on, not just the architecture ``platform`` reports."""

from __future__ import annotations

import os
import platform

from versebert.machine import cpu_model


def test_the_model_name_comes_from_cpuinfo_with_the_usable_cpus(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14 96-Core Processor\n"
                       "flags\t\t: fpu avx2\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 9R14 96-Core Processor\n")
    assert cpu_model(cpuinfo) == f"AMD EPYC 9R14 96-Core Processor, {len(os.sched_getaffinity(0))} CPUs"


def test_without_cpuinfo_it_falls_back_to_the_platform(tmp_path):
    assert cpu_model(tmp_path / "missing").startswith(f"{platform.processor() or platform.machine()}, ")
