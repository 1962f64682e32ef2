"""Publishing wiring: the step that makes a run's marts current for analysts and Postgres."""
