"""What is particular to OpenFlexure scans: metadata key paths, stage geometry, scan order."""
