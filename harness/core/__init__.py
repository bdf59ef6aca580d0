"""The core every command stands on: configuration, connections, the control schema, errors, runbooks,
interrupts, processes, the embedded server."""
