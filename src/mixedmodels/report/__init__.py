"""R's number formatting and printouts, summaries, HTML for notebooks, plots, progress bars."""
