"""Code the tests and the benchmarks share, so that neither imports the other: reference
problems built with BluePyOpt itself, released parameter values, evaluators without NEURON."""
