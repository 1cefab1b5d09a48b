"""Workers: claim tasks, run them in a supervised child process, report back to the queue."""
