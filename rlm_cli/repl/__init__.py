"""The isolated REPL: the child process, its sandbox, the wire protocol and the helpers model code calls."""
