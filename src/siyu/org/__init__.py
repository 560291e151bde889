"""Organisation: tenants (brands), regions, stores with business hours, staff."""
