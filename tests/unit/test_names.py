"""One person-name type at every door: the rules, one person per NFC + case-folded spelling, exit 2 on the CLI."""

import pytest
from support.names import NFC_JOSE, NFD_JOSE

from faceops.core.errors import FaceopsError, UsageError
from faceops.core.names import name_key, person_name, refuse_second_spelling
from faceops.records.feedback import verdict_of


@pytest.mark.parametrize(
    "name, message",
    [
        ("", "person name is empty"),
        ("   ", "person name is empty"),
        (".hidden", "is hidden"),
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        (" Ann", "starts or ends with a space"),
        ("Ann\x1b[31m", r"a control character \(U\+001B\)"),
        ("Ann\nBob", r"a control character \(U\+000A\)"),
        ("Ann\rBob", r"a control character \(U\+000D\)"),
        ("Ann\x00", r"a control character \(U\+0000\)"),
        ("Ann\x85", r"a control character \(U\+0085\)"),  # C1
        ("Ann\u200d", r"an invisible format character \(U\+200D\)"),  # zero-width joiner
        ("\u202eAnn", r"an invisible format character \(U\+202E\)"),  # right-to-left override
        ("Ann\u2028", r"a line separator"),
        ("x" * 101, "has 101 characters, at most 100"),
        ("張" * 100, "is 300 bytes in UTF-8, at most 200 \\(it names folders and files\\)"),  # 100 characters
        ("é" * 99 + "張", "is 201 bytes in UTF-8, at most 200"),
        ("*", "glob character"),
        ("An?", "glob character"),
        ("[A]nn", "glob character"),
    ],
)
def test_bad_names_are_refused_naming_the_rule(name, message):
    with pytest.raises(UsageError, match=message):
        person_name(name, "--person")


@pytest.mark.parametrize(
    "name", ["Ann_Smith", "O'Brien", "José", "山田太郎", "Zoë-Ünal", "x" * 100, "é" * 100, "張" * 66, "NA"]
)
def test_good_names_pass(name):
    assert person_name(name) == name


def test_a_name_is_kept_in_nfc():
    assert person_name(NFD_JOSE) == NFC_JOSE
    assert name_key(NFD_JOSE) == name_key("JOSÉ") == name_key(NFC_JOSE)


def test_a_second_spelling_is_refused_naming_the_first():
    with pytest.raises(UsageError, match=r"'josé' is another spelling of the existing person 'José'"):
        refuse_second_spelling("josé", ["Bob", "José"], "person")
    refuse_second_spelling("José", ["Bob", "José"])  # the same spelling is the same person: fine


@pytest.mark.parametrize(
    "body, message",
    [
        ({"id": "ab12", "person": "Ann\x00"}, "person: person name 'Ann\\x00' contains a control character"),
        ({"id": "ab12", "not": "A" * 300}, "has 300 characters, at most 100"),
        ({"id": "ab12", "person": "ann"}, "'ann' is not a person of this model or data set; the person is spelt 'Ann'"),
        ({"id": "ab12", "person": {"name": {"nested": "Ann"}}}, 'give exactly one of "person"'),
    ],
)
def test_feedback_names_follow_the_same_rules(body, message):
    with pytest.raises(FaceopsError) as error:
        verdict_of(body, {"Ann", "Bob"})
    assert message in str(error.value)


def test_feedback_takes_another_unicode_form_of_a_known_name():
    assert verdict_of({"id": "ab12", "person": NFD_JOSE}, {NFC_JOSE, "Bob"}) == ("ab12", "is", NFC_JOSE)
