"""DICOM reading: find files by content, group them into stacks, load stacks as volumes."""
