"""Database base classes, engine, unit of work and the tenancy guard."""
