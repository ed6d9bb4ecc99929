"""The process's machinery under every model: torch threads, device and precision, the allocator, torchvision's NMS
fallback, BatchNorm folding, box NMS and the stopwatch. Imports nothing above itself."""
