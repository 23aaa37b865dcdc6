"""Analysis: observables, links, clusters, lookups and ransomware analytics."""
