"""Fuzz harness for the DICOM reader (issue 14): mutate real and synthetic files, run the CLI."""
