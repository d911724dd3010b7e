"""The plain RLM method: the loop, the model client, reading replies, budgets and events."""
