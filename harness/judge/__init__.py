"""The verdict: expectations held against observations, nothing else."""
