"""Help for weak models, behind one interface the engine calls; switchable as a whole."""
