"""The target registry of units that must publish annual reports."""
