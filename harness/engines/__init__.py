"""One module per database engine, behind the same small set of functions."""
