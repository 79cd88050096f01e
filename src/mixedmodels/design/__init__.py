"""From a parsed formula and a data frame to the model's matrices: the model frame, X with R's
coding, the random-effects terms."""
