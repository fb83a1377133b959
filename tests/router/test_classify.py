"""Classification with the shipped rules and with small rules files of our own."""

from __future__ import annotations

import pytest

from router.classify import Classifier
from router.rules import RulesError, compile_rules, load_rules
from tests.router.helpers import AGENCY_SAMPLES


@pytest.fixture(scope="module")
def classifier(rules) -> Classifier:
    return Classifier(rules)


class TestShippedRules:
    def test_every_agency_of_the_rules_has_a_sample(self, rules):
        assert set(rules.agencies) == set(AGENCY_SAMPLES)

    @pytest.mark.parametrize(("agency", "text"), sorted(AGENCY_SAMPLES.items()))
    def test_realistic_complaint_reaches_its_agency(self, classifier, agency, text):
        result = classifier.classify(text)
        if agency == "inspektorat":  # issue 12 item 6: pungli is flagged, the agency that must act still gets it
            assert result.integrity, result
            return
        assert result.agency == agency, result
        assert result.matched and all(m.startswith(f"{result.category}:") for m in result.matched)
        assert 0 < result.confidence <= 1

    @pytest.mark.parametrize("text", [
        "Selamat pagi admin, semoga sehat selalu",
        "min, nomor telepon kantor walikota berapa ya?",
        "terima kasih atas pelayanannya",
        "",
    ])
    def test_unclassifiable_goes_to_triage(self, classifier, text):
        assert classifier.classify(text).triage

    def test_slang_and_stemming_match_the_same_term(self, classifier):
        formal = classifier.classify("Jalan berlubang di depan sekolah")
        slang = classifier.classify("jln bolong di dpn sekolah")
        assert formal.category == slang.category == "jalan_rusak"

    def test_parking_on_the_pavement_is_not_a_broken_pavement(self, classifier):
        assert classifier.classify("motor parkir di trotoar, pejalan kaki susah lewat").agency == "dishub"
        assert classifier.classify("trotoar rusak dan pecah2").agency == "binamarga"

    def test_channel_hint_is_considered_but_not_trusted_blindly(self, classifier):
        text = "lampu jalan mati, gelap banget"
        wrong_hint = classifier.classify(text, hint="Keluhan Fasilitas Gedung Pemda")
        assert wrong_hint.category == "penerangan_jalan"
        # A hint alone, with nothing in the text behind it, decides nothing.
        alone = classifier.classify("mohon ditindaklanjuti", hint="Sampah ")
        assert alone.triage and not alone.hint_used
        # A hint that agrees with weak evidence tips it over the threshold.
        weak = "ada genangan"
        assert classifier.classify(weak, hint="Banjir").hint_used
        assert classifier.classify(weak, hint="Banjir").score > classifier.classify(weak).score

    def test_several_issues_pick_the_strongest_and_record_the_others(self, classifier):
        result = classifier.classify("air banjir setinggi lutut masuk rumah, sampah juga numpuk di gang")
        assert result.agency == "sda"
        assert "sampah_lingkungan" in result.also

    def test_urgency_depends_on_the_words(self, classifier):
        assert classifier.classify("pohon tumbang menimpa mobil").urgent
        assert not classifier.classify("pohon di depan rumah perlu dipangkas, rimbun sekali").urgent
        assert classifier.classify("kabel listrik putus menjuntai, bisa nyetrum").urgent
        assert classifier.classify("banjir masuk rumah").urgent

    def test_english_complaints_are_classified(self, classifier):
        assert classifier.classify("There is a fallen tree blocking the road").agency == "distamhut"
        assert classifier.classify("The road is full of potholes").agency == "binamarga"


def _rules(**categories):
    return {
        "agencies": {"a": {"name": "Agency A"}, "b": {"name": "Agency B"}},
        "categories": categories or {"x": {"agency": "a", "name": "X", "terms": {"kucing": 3}}},
    }


class TestAdminRules:
    def test_admin_rules_are_applied_without_code(self):
        rules = compile_rules(_rules(
            kucing={"agency": "a", "name": "Kucing", "terms": {"kucing": 3, "kucing & atap": 1},
                    "exclude": ["kucing mati"]},
            anjing={"agency": "b", "name": "Anjing", "terms": {"anjing liar": 3}},
        ))
        c = Classifier(rules)
        assert c.classify("ada kucing di atap").category == "kucing"
        assert c.classify("ada kucing di atap").score == 4
        assert c.classify("kucing mati di jalan").triage
        assert c.classify("anjing liar berkeliaran").agency == "b"

    def test_every_problem_is_reported_at_once(self):
        with pytest.raises(RulesError) as info:
            compile_rules(_rules(
                x={"agency": "nope", "name": "X", "terms": {"kucing": 3}},
                y={"agency": "a", "name": "Y", "terms": {"!!!": 3}},
            ))
        text = str(info.value)
        assert "categories.x.agency: unknown agency 'nope'" in text
        assert "categories.y.terms: '!!!' has no words" in text

    def test_unknown_keys_are_rejected(self):
        with pytest.raises(RulesError, match="categories.x.weight"):
            compile_rules(_rules(x={"agency": "a", "name": "X", "terms": {"kucing": 3}, "weight": 2}))

    def test_missing_file_is_a_clear_error(self, tmp_path):
        with pytest.raises(RulesError, match="cannot read rules file"):
            load_rules(tmp_path / "absent.yaml")
