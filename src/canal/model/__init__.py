"""Plain types: handling, records, orgs and principals.

No I/O, and no imports from the rest of canal."""
