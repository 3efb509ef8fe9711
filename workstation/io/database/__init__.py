"""The local DICOM database: a content-addressed file store and its SQLite index."""
