"""After the fit: predictions and diagnostics."""
