"""Database migrations behind a verified backup and an approval bound to one plan hash.

plan (``<service>_migration_plan``)
    reads the numbered SQL files at a git ref, compares them with the ledger in the
    database, backs the database up to S3 and reads the backup back, applies the
    pending files in a transaction that is rolled back, and asks Slack for an approval.
approve (``<service>_migration_approve``)
    a person other than the requester records their approval of one plan hash.
apply (``<service>_migration_apply``)
    launched by ``migration_approval_sensor``: under an advisory lock, recomputes the
    plan, refuses a different hash, applies file by file, records the ledger, verifies.
restore (``<service>_restore``)
    launched by a person only, after its own approval: replaces the database with a backup.
"""
