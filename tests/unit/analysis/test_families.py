"""Family names resolve to one canonical family through the MISP galaxies' synonyms."""

from __future__ import annotations

import pytest

from canal.analysis.families import (
    FamilyCatalogue,
    GalaxyEntry,
    Match,
    family_key,
    galaxy_catalogue,
    loose_key,
    resolve_family,
)

CATALOGUE = FamilyCatalogue(
    [
        GalaxyEntry("BlackCat", "00000000-0000-4000-8000-000000000001", ("ALPHV", "Noberus")),
        GalaxyEntry("Lockbit3", "00000000-0000-4000-8000-000000000002"),
        GalaxyEntry("LockBit", "00000000-0000-4000-8000-000000000003", ("ABCD ransomware",)),
        GalaxyEntry("Red Alert", "00000000-0000-4000-8000-000000000005", refs=1),
        GalaxyEntry("RedAlert", "00000000-0000-4000-8000-000000000004", refs=3),
        GalaxyEntry("BitPaymer", "00000000-0000-4000-8000-000000000006", ("FriedEx",)),
        GalaxyEntry("DoppelPaymer", "00000000-0000-4000-8000-000000000007", ("FriedEx",)),
        GalaxyEntry("medusa", "00000000-0000-4000-8000-000000000008"),
        GalaxyEntry("MedusaLocker", "00000000-0000-4000-8000-000000000009", ("Medusa-Locker",)),
    ],
    bridges=[("LockBit 3.0", "LockBit Black"), ("Babuk", "Babyk")],
)


def test_keys_ignore_case_punctuation_and_width():
    assert family_key("LockBit 3.0") == family_key("lockbit-3.0") == "lockbit30"
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "LockBit")
    assert family_key(full_width) == "lockbit"
    assert loose_key("LockBit 3.0") == "lockbit3"
    assert loose_key("Conti Ransomware") == "conti"
    assert loose_key("Hive Leaks") == "hive"
    assert loose_key("Ransomware") == "ransomware"  # a name that is only the generic word


@pytest.mark.parametrize(
    ("name", "family", "match"),
    [
        ("BlackCat", "BlackCat", Match.VALUE),
        ("blackcat", "BlackCat", Match.VALUE),
        ("ALPHV", "BlackCat", Match.SYNONYM),
        ("alphv", "BlackCat", Match.SYNONYM),
        ("Noberus", "BlackCat", Match.SYNONYM),
        ("lockbit3", "Lockbit3", Match.VALUE),
        ("LockBit 3", "Lockbit3", Match.VALUE),
        ("LockBit 3.0", "Lockbit3", Match.LOOSE),
        ("LockBit Black", "Lockbit3", Match.MITRE),
        ("lockbit", "LockBit", Match.VALUE),
        ("ABCD", "LockBit", Match.LOOSE),
        ("AlphV ransomware", "BlackCat", Match.LOOSE),
        ("Medusa Ransomware", "medusa", Match.LOOSE),
        ("Medusa Locker", "MedusaLocker", Match.VALUE),
    ],
)
def test_names_and_synonyms_resolve(name, family, match):
    found = CATALOGUE.resolve(name)
    assert (found.name, found.match) == (family, match)
    assert found.resolved


def test_the_aliases_are_the_galaxy_synonyms_and_the_name_given():
    assert CATALOGUE.resolve("alphv").aliases == ("ALPHV", "Noberus")
    assert CATALOGUE.resolve("LockBit Black").aliases == ("LockBit Black",)
    assert CATALOGUE.resolve("lockbit3").aliases == ()


def test_equal_values_pick_the_better_documented_entry():
    assert CATALOGUE.resolve("red alert").galaxy_uuid == "00000000-0000-4000-8000-000000000004"
    assert CATALOGUE.resolve("Red-Alert").name == "RedAlert"


def test_a_synonym_of_two_families_is_ambiguous():
    found = CATALOGUE.resolve("friedex")
    assert not found.resolved
    assert found.match is Match.AMBIGUOUS
    assert found.candidates == ("BitPaymer", "DoppelPaymer")
    assert found.name == "friedex"


def test_an_unknown_name_is_kept_as_given_and_unresolved():
    found = CATALOGUE.resolve("  Night   Owl  ")
    assert found.name == "Night Owl"
    assert found.galaxy_uuid is None
    assert found.match is Match.UNKNOWN
    assert found.aliases == ()
    # A bridge whose names are all unknown to the ransomware galaxy resolves nothing.
    assert not CATALOGUE.resolve("Babyk").resolved


def test_a_blank_name_is_refused():
    with pytest.raises(ValueError, match="no letters or digits"):
        CATALOGUE.resolve(" -- ")


def test_an_empty_catalogue_resolves_nothing():
    assert FamilyCatalogue(()).resolve("LockBit").match is Match.UNKNOWN


# The installed MISP galaxies (pymispgalaxies' data).


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("LockBit 3.0", "Lockbit3"),
        ("lockbit3", "Lockbit3"),
        ("LockBit Black", "Lockbit3"),
        ("LOCKBIT", "LockBit"),
        ("alphv", "BlackCat"),
        ("ALPHV", "BlackCat"),
        ("Noberus", "BlackCat"),
        ("Cl0p", "Clop"),
        ("clop", "Clop"),
        ("Conti ransomware", "Conti"),
    ],
)
def test_the_misp_galaxy_resolves_synonyms(name, family):
    found = resolve_family(name)
    assert found.name == family
    assert found.resolved


def test_the_misp_galaxy_keeps_unknown_names():
    found = resolve_family("No Such Gang 2099")
    assert (found.name, found.resolved, found.match) == ("No Such Gang 2099", False, Match.UNKNOWN)


def test_the_galaxies_are_loaded_once():
    assert galaxy_catalogue() is galaxy_catalogue()
    assert len(galaxy_catalogue().by_uuid) > 1000
