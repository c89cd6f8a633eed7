"""The ground floor: a scenario file read and validated into plain data (faults, steps,
expectations, roles, the testbed's names). Imports no other wing."""
