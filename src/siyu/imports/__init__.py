"""Imports started from the console: an uploaded sheet, its column mapping, a background run and its
row report (see docs/console.md, "Imports")."""
