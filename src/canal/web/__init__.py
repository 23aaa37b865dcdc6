"""The web app: REST API, TAXII and the UI, with one error mapper per edge."""
