"""Controllers connect state, workers and widgets."""
