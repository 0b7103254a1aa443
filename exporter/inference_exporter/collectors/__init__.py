"""Local resource collectors: the model server's processes, the container's cgroup, NVIDIA GPUs.

Each collector writes unified series with ``collect(out: Builder)``; the ones holding
resources (NVML, its event thread) also have ``close()``. Constructors take every root
and dependency explicitly, and importing a module starts nothing.
"""

from .container import ContainerCollector
from .gpu import GpuCollector
from .process import ProcessCollector, ProcessMatcher, pid_owner

__all__ = ["ContainerCollector", "GpuCollector", "ProcessCollector", "ProcessMatcher", "pid_owner"]
