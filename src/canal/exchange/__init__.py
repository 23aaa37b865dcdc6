"""Exchange with the outside: STIX export, and later TAXII, MISP and other formats."""
