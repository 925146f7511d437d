"""Processes, command line and backends: the only layer that knows about MPI."""
