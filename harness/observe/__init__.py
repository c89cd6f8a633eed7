"""What happened, recorded from outside the programs: captures, strace records, counters,
and the observations the runner writes for the judge."""
