"""Pure decisions shared by the scheduler, ``dags test`` and backfill: no I/O, no clock."""
