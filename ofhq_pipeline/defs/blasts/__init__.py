"""The blast job: one segment of one creator, dry run or sent, and the marts of its results."""
