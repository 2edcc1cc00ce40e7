"""User functions for tests, named by import path (``userfuncs.funcs:first_letter``)."""
