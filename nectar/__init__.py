"""The nectar shell and command line."""
