"""The 24/7 network: points of contact, assistance requests, deadlines, notifications and the
post-event package (DOMAIN.md §3, R23-R27, R34, R36; docs/assist.md)."""
