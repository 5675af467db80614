"""Who is calling, by voice: matching a heard name to the practice's patients, spelling, read-backs."""
