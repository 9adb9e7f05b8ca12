"""Stage 3: structural causal models (mechanisms, sources, propagation)."""
