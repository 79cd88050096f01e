"""The fitted models' result objects, frozen; derived numbers computed on demand."""
