"""Tags: a governed catalogue, assignments with provenance and expiry, and their history."""
