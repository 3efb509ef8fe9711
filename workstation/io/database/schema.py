"""The SQLite schema of the database index (Patient → Study → Series → Instance)."""

from __future__ import annotations

#: Bumped whenever the tables change; an index of a newer version is refused.
SCHEMA_VERSION = 1

TABLES = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS patients (
    patient_key INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL,
    patient_name TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    sex TEXT NOT NULL,
    name_folded TEXT NOT NULL,
    UNIQUE (patient_id, patient_name, birth_date)
);
CREATE TABLE IF NOT EXISTS studies (
    study_uid TEXT PRIMARY KEY,
    patient_key INTEGER NOT NULL REFERENCES patients (patient_key) ON DELETE CASCADE,
    study_date TEXT NOT NULL,
    study_time TEXT NOT NULL,
    description TEXT NOT NULL,
    description_folded TEXT NOT NULL,
    accession_number TEXT NOT NULL,
    study_id TEXT NOT NULL,
    inserted_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS series (
    series_uid TEXT PRIMARY KEY,
    study_uid TEXT NOT NULL REFERENCES studies (study_uid) ON DELETE CASCADE,
    modality TEXT NOT NULL,
    series_number TEXT NOT NULL,
    description TEXT NOT NULL,
    description_folded TEXT NOT NULL,
    body_part TEXT NOT NULL,
    frame_of_reference_uid TEXT NOT NULL,
    inserted_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS instances (
    sop_instance_uid TEXT PRIMARY KEY,
    series_uid TEXT NOT NULL REFERENCES series (series_uid) ON DELETE CASCADE,
    sop_class_uid TEXT NOT NULL,
    instance_number INTEGER,
    rows INTEGER,
    columns INTEGER,
    number_of_frames INTEGER,
    transfer_syntax_uid TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    path TEXT NOT NULL,
    in_place INTEGER NOT NULL,
    imported_at REAL NOT NULL,
    origin TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS patients_name ON patients (name_folded);
CREATE INDEX IF NOT EXISTS patients_id ON patients (patient_id);
CREATE INDEX IF NOT EXISTS studies_patient ON studies (patient_key);
CREATE INDEX IF NOT EXISTS studies_date ON studies (study_date);
CREATE INDEX IF NOT EXISTS studies_accession ON studies (accession_number);
CREATE INDEX IF NOT EXISTS series_study ON series (study_uid);
CREATE INDEX IF NOT EXISTS series_modality ON series (modality);
CREATE INDEX IF NOT EXISTS instances_series ON instances (series_uid);
CREATE INDEX IF NOT EXISTS instances_path ON instances (path);
CREATE INDEX IF NOT EXISTS instances_sha256 ON instances (sha256);
"""
