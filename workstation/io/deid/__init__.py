"""De-identification of DICOM data sets: the PS3.15 profile, keys, UIDs, burned-in text."""
