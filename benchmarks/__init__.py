"""The benchmark scripts: run from the repository's root as modules, e.g. `python -m benchmarks.reproduce --quick`.

Not part of the installed package; they import eqn_keras's public API only, and running them from a clone's root
puts that clone (its eqn_keras) first on the import path.
"""
