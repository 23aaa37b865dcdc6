"""Who may do what to which record. Every read on behalf of a principal goes through here.

Two faces of the same rules: `Policy.decide` answers for one record, `Policy.visible_clause` is
the SQL filter that queries use. They must agree; a property test checks that they do on
random principals, handlings and records.
"""

from canal.policy.rules import (
    CRIME_PURPOSES,
    Action,
    Decision,
    HitAnswer,
    Policy,
    Redaction,
)

__all__ = ["CRIME_PURPOSES", "Action", "Decision", "HitAnswer", "Policy", "Redaction"]
