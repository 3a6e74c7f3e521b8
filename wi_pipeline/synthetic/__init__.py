"""Deterministic synthetic G4 extracts and CBS tables with planted, known effects."""
