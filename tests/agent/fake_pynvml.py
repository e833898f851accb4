"""A stand-in for nvidia-ml-py's `pynvml`, of the tests' own making.

Same function names, arguments, units and error classes as the real module (power in mW,
energy in mJ, memory in bytes, NVMLError subclasses such as NVMLError_NotSupported and
NVMLError_NotFound built from the NVML_ERROR_* codes). The GPUs are plain objects the test
configures and advances in time: an old GPU without the energy counter, a counter reset (driver
reload), MIG slices, running processes and per-process utilisation.
"""

from dataclasses import dataclass, field

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_GPU_IS_LOST = 15
NVML_DEVICE_MIG_DISABLE = 0
NVML_DEVICE_MIG_ENABLE = 1


class NVMLLibraryMismatchError(Exception):
    """Raised, like the real module, when the driver lacks the versioned function called."""


class NVMLError(Exception):
    _value_class: dict[int, type] = {}
    _strings = {
        NVML_ERROR_UNINITIALIZED: "Uninitialized",
        NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
        NVML_ERROR_NOT_SUPPORTED: "Not Supported",
        NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
        NVML_ERROR_NOT_FOUND: "Not Found",
        NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
        NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
        NVML_ERROR_GPU_IS_LOST: "GPU is lost",
    }

    def __new__(cls, value):
        if cls is NVMLError:
            cls = NVMLError._value_class.get(value, cls)
        obj = Exception.__new__(cls)
        obj.value = value
        return obj

    def __str__(self):
        return self._strings.get(self.value, f"NVML Error with code {self.value}")


def _error_class(name: str, value: int) -> type:
    cls = type(name, (NVMLError,), {"__new__": lambda typ, *args: NVMLError.__new__(typ, value)})
    NVMLError._value_class[value] = cls
    return cls


NVMLError_Uninitialized = _error_class("NVMLError_Uninitialized", NVML_ERROR_UNINITIALIZED)
NVMLError_InvalidArgument = _error_class("NVMLError_InvalidArgument", NVML_ERROR_INVALID_ARGUMENT)
NVMLError_NotSupported = _error_class("NVMLError_NotSupported", NVML_ERROR_NOT_SUPPORTED)
NVMLError_NoPermission = _error_class("NVMLError_NoPermission", NVML_ERROR_NO_PERMISSION)
NVMLError_NotFound = _error_class("NVMLError_NotFound", NVML_ERROR_NOT_FOUND)
NVMLError_DriverNotLoaded = _error_class("NVMLError_DriverNotLoaded", NVML_ERROR_DRIVER_NOT_LOADED)
NVMLError_LibraryNotFound = _error_class("NVMLError_LibraryNotFound", NVML_ERROR_LIBRARY_NOT_FOUND)
NVMLError_GpuIsLost = _error_class("NVMLError_GpuIsLost", NVML_ERROR_GPU_IS_LOST)


class Struct:
    """Like pynvml's friendly objects: attribute access to the C struct's fields."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


@dataclass
class FakeMig:
    uuid: str
    name: str
    memory_total: int
    processes: list[int] = field(default_factory=list)


@dataclass
class FakeGpu:
    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    power_mw: int = 300_000
    power_limit_mw: int = 700_000
    energy_mj: int | None = 1_000_000  # None: no counter (pre-Volta)
    util_gpu: int = 50
    memory_total: int = 80 * 1024**3
    memory_used: int = 10 * 1024**3
    processes: list[int] = field(default_factory=list)
    # pid -> SM utilisation %; None: NVML has no per-process samples (NotFound)
    process_sm_util: dict[int, int] | None = None
    mig: list[FakeMig] | None = None  # None: not MIG-capable; [] capable but disabled
    lost: bool = False

    def advance(self, seconds: float, power_w: float | None = None) -> None:
        """Let time pass at power_w (default: the current power)."""
        if power_w is not None:
            self.power_mw = int(power_w * 1000)
        if self.energy_mj is not None:
            self.energy_mj += int(self.power_mw * seconds)


class _State:
    gpus: list[FakeGpu] = []
    initialised = 0
    init_error: int | None = None
    old_driver = False  # no nvmlDeviceGetComputeRunningProcesses_v3
    generation = 0  # bumped by a driver reload: older handles are invalid


state = _State()


def configure(
    gpus: list[FakeGpu], *, init_error: int | None = None, old_driver: bool = False
) -> None:
    state.gpus = gpus
    state.initialised = 0
    state.init_error = init_error
    state.old_driver = old_driver
    state.generation = 0


def reload_driver() -> None:
    """The driver is unloaded and loaded again: counters restart, old handles stop working."""
    state.generation += 1
    for gpu in state.gpus:
        if gpu.energy_mj is not None:
            gpu.energy_mj = 0


@dataclass(frozen=True)
class _Handle:
    gpu: FakeGpu
    mig: FakeMig | None = None
    generation: int = field(default_factory=lambda: state.generation)


def _check(handle: _Handle) -> FakeGpu:
    if not state.initialised:
        raise NVMLError(NVML_ERROR_UNINITIALIZED)
    if handle.generation != state.generation:
        raise NVMLError(NVML_ERROR_GPU_IS_LOST)
    if handle.gpu.lost:
        raise NVMLError(NVML_ERROR_GPU_IS_LOST)
    return handle.gpu


def nvmlInit():
    if state.init_error is not None:
        raise NVMLError(state.init_error)
    state.initialised += 1


def nvmlShutdown():
    if not state.initialised:
        raise NVMLError(NVML_ERROR_UNINITIALIZED)
    state.initialised -= 1


def nvmlDeviceGetCount():
    if not state.initialised:
        raise NVMLError(NVML_ERROR_UNINITIALIZED)
    return len(state.gpus)


def nvmlDeviceGetHandleByIndex(index):
    if not state.initialised:
        raise NVMLError(NVML_ERROR_UNINITIALIZED)
    if not 0 <= index < len(state.gpus):
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    return _Handle(state.gpus[index])


def nvmlDeviceGetHandleByUUID(uuid):
    if not state.initialised:
        raise NVMLError(NVML_ERROR_UNINITIALIZED)
    for gpu in state.gpus:
        if gpu.uuid == uuid:
            return _Handle(gpu)
        for mig in gpu.mig or []:
            if mig.uuid == uuid:
                return _Handle(gpu, mig)
    raise NVMLError(NVML_ERROR_NOT_FOUND)


def nvmlDeviceGetIndex(handle):
    return state.gpus.index(_check(handle))


def nvmlDeviceGetUUID(handle):
    gpu = _check(handle)
    return handle.mig.uuid if handle.mig else gpu.uuid


def nvmlDeviceGetName(handle):
    gpu = _check(handle)
    return handle.mig.name if handle.mig else gpu.name


def nvmlDeviceGetEnforcedPowerLimit(handle):
    if handle.mig:
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    return _check(handle).power_limit_mw


def nvmlDeviceGetPowerUsage(handle):
    if handle.mig:
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    return _check(handle).power_mw


def nvmlDeviceGetTotalEnergyConsumption(handle):
    gpu = _check(handle)
    if handle.mig or gpu.energy_mj is None:
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    return gpu.energy_mj


def nvmlDeviceGetUtilizationRates(handle):
    gpu = _check(handle)
    if handle.mig or gpu.mig:
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    return Struct(gpu=gpu.util_gpu, memory=gpu.util_gpu // 2)


def nvmlDeviceGetMemoryInfo(handle, version=None):
    gpu = _check(handle)
    if handle.mig:
        used = 1024**3 * len(handle.mig.processes)
        return Struct(total=handle.mig.memory_total, free=handle.mig.memory_total - used, used=used)
    return Struct(
        total=gpu.memory_total, free=gpu.memory_total - gpu.memory_used, used=gpu.memory_used
    )


def nvmlDeviceGetComputeRunningProcesses(handle):
    if state.old_driver:
        raise NVMLLibraryMismatchError(
            "Unversioned function called and the pyNVML version does not match the NVML lib "
            "version."
        )
    return nvmlDeviceGetComputeRunningProcesses_v2(handle)


def nvmlDeviceGetComputeRunningProcesses_v2(handle):  # noqa: N802 - pynvml's name
    gpu = _check(handle)
    pids = handle.mig.processes if handle.mig else gpu.processes
    return [
        Struct(pid=pid, usedGpuMemory=1024**3, gpuInstanceId=0, computeInstanceId=0) for pid in pids
    ]


def nvmlDeviceGetProcessUtilization(handle, timeStamp):  # noqa: N803 - pynvml's name
    gpu = _check(handle)
    if handle.mig or gpu.mig:
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    if not gpu.process_sm_util:
        raise NVMLError(NVML_ERROR_NOT_FOUND)
    stamp = timeStamp + 1_000_000
    return [
        Struct(pid=pid, timeStamp=stamp, smUtil=util, memUtil=0, encUtil=0, decUtil=0)
        for pid, util in gpu.process_sm_util.items()
    ]


def nvmlDeviceGetMigMode(device):
    gpu = _check(device)
    if gpu.mig is None:
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    mode = NVML_DEVICE_MIG_ENABLE if gpu.mig else NVML_DEVICE_MIG_DISABLE
    return [mode, mode]


def nvmlDeviceGetMaxMigDeviceCount(device):
    gpu = _check(device)
    return 7 if gpu.mig is not None else 0


def nvmlDeviceGetMigDeviceHandleByIndex(device, index):
    gpu = _check(device)
    if not gpu.mig or index >= len(gpu.mig):
        raise NVMLError(NVML_ERROR_NOT_FOUND)
    return _Handle(gpu, gpu.mig[index])
