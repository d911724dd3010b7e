"""Stands in for llama-cpp-python in tests: put tests/fake_llama on PYTHONPATH and `python -m llama_cpp.server` runs
the fake in server.py, so `rlm local` starts, watches and stops a real process without building llama.cpp."""
