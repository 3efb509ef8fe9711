"""Talking to PACS and VNA servers: DIMSE (pynetdicom) and DICOMweb (dicomweb-client)."""
