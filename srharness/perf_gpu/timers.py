"""Events for the timing loops: `CudaTimer` (CUDA events on one stream) and its CPU twin
`HostTimer` (synchronous work, an event is the clock when recorded), which is also how the loops'
arithmetic is unit-tested with a fake clock. Everything that touches CUDA is behind these."""
from __future__ import annotations

import time
from typing import Callable, Protocol


class Event(Protocol):
    def record(self) -> None: ...
    def synchronize(self) -> None: ...
    def elapsed_time(self, end: "Event") -> float: ...   # ms, like torch.cuda.Event


class EventTimer(Protocol):
    def event(self) -> Event: ...
    def synchronize(self) -> None: ...


class _HostEvent:
    def __init__(self, clock):
        self._clock, self.t = clock, None

    def record(self) -> None:
        self.t = self._clock()

    def synchronize(self) -> None:
        pass

    def elapsed_time(self, end: "_HostEvent") -> float:
        if self.t is None or end.t is None:
            raise RuntimeError("elapsed_time of an event that was never recorded")
        return (end.t - self.t) * 1000.0


class HostTimer:
    """The CPU twin of CudaTimer: work is synchronous, an event is the clock when recorded."""
    kind = "host clock (CPU twin)"

    def __init__(self, clock: Callable[[], float] = time.perf_counter):
        self.clock = clock

    def event(self) -> _HostEvent:
        return _HostEvent(self.clock)

    def synchronize(self) -> None:
        pass


class _CudaEvent:
    def __init__(self, stream):
        import torch
        self.ev, self.stream = torch.cuda.Event(enable_timing=True), stream

    def record(self) -> None:
        self.ev.record(self.stream)

    def synchronize(self) -> None:
        self.ev.synchronize()

    def elapsed_time(self, end: "_CudaEvent") -> float:
        return self.ev.elapsed_time(end.ev)


class CudaTimer:
    """CUDA events on one stream (the current stream by default)."""
    kind = "cuda events"

    def __init__(self, stream=None):
        import torch
        self.stream = stream or torch.cuda.current_stream()

    def event(self) -> _CudaEvent:
        return _CudaEvent(self.stream)

    def synchronize(self) -> None:
        self.stream.synchronize()


def timer_for(device: str, clock: Callable[[], float] = time.perf_counter) -> EventTimer:
    return CudaTimer() if device == "cuda" else HostTimer(clock)
