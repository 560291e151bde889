"""The demo brand: a deterministic, realistic tenant for trying Siyu and for benchmarks."""
