"""The reproducible demo world: a year of cybercrime shared by the demo orgs, and its loader."""
