"""Operations: what a job does, as validated params, a plan of stages and a run per task."""
