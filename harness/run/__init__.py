"""Drives it all: a plan, one run (runner, execute), a suite, a comparison, a lab, clean."""
