"""What a person reads: the terminal report, report.html and its packet ladder."""
