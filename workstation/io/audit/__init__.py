"""The tamper-evident audit trail on disk: records, the hash-chained log, checks, exports."""
