"""The spoken-phrase challenge: signed one-time tokens, and the check on real and synthetic speech."""

from __future__ import annotations

import pytest

from app import create_app
from scoring.errors import ServiceError
from scoring.liveness.speech import PhraseVerifier, required_words
from scoring.liveness.tokens import VOCABULARY, ChallengeBook
from scoring.media.video import decode_video
from scoring.settings import Settings
from tests.helpers import media
from tests.helpers.paths import MEDIA, shared, system_program
from tests.helpers.service import make_settings

GRID = ["grid_bbaf2n.mpg", "grid_lbax4n.mpg", "grid_swiz3n.mpg"]


@pytest.fixture(scope="module")
def verifier() -> PhraseVerifier:
    return PhraseVerifier()


def test_tokens_are_signed_expire_and_are_accepted_once():
    book = ChallengeBook(b"s" * 32, ttl_s=60, words=4)
    issued = book.issue(now=1000.0)
    words = issued.phrase.split()
    assert len(set(words)) == 4 and set(words) <= set(VOCABULARY) and issued.expires_at == 1060
    assert book.redeem(issued.token, now=1001.0) == issued.phrase
    with pytest.raises(ServiceError) as reused:
        book.redeem(issued.token, now=1002.0)
    assert reused.value.status == 409 and reused.value.code == "challenge_used"
    late = book.issue(now=1000.0)
    with pytest.raises(ServiceError) as expired:
        book.redeem(late.token, now=1061.0)
    assert expired.value.status == 410 and expired.value.code == "challenge_expired"
    other_server = ChallengeBook(b"t" * 32, ttl_s=60, words=4)
    for forged in (other_server.issue(now=1000.0).token, late.token.split(".")[0] + ".", "garbage", ""):
        with pytest.raises(ServiceError) as refused:
            book.redeem(forged, now=1001.0)
        assert refused.value.code == "invalid_challenge"


def test_the_vocabulary_is_in_the_recognisers_dictionary(verifier):
    assert [word for word in VOCABULARY if not verifier.knows(word)] == []


@pytest.mark.parametrize("name", GRID)
def test_a_grid_clip_passes_its_own_sentence_and_no_other(verifier, name):
    clip = shared(MEDIA / "talking" / name)
    pcm = decode_video(clip).audio
    own = verifier.check(pcm, media.grid_sentence(clip))
    assert own.passed and own.matched_words >= required_words(own.total_words), own
    for other in GRID:
        if other != name:
            assert not verifier.check(pcm, media.grid_sentence(MEDIA / "talking" / other)).passed


def test_a_phrase_spoken_by_flite_passes_and_another_phrase_does_not(verifier, tmp_path):
    system_program("flite", package="flite")
    clip = media.video_with_speech(shared(MEDIA / "talking" / "akash_video_8s.mp4"), "river seven garden nine", "slt", tmp_path / "s.mkv")
    pcm = decode_video(clip).audio
    said = verifier.check(pcm, "river seven garden nine")
    assert said.passed and said.heard == "river seven garden nine" and said.matched_words == 4
    assert not verifier.check(pcm, "coffee mountain yellow pencil").passed
    assert not verifier.check(None, "river seven garden nine").passed


def test_score_with_a_challenge_reports_it_and_a_failed_one_is_at_least_high_risk(weights_dir, upload_dir, tmp_path):
    system_program("flite", package="flite")
    api = create_app(make_settings(weights_dir, upload_dir, challenge_secret="k" * 24)).test_client()
    face = shared(MEDIA / "talking" / "akash_video_8s.mp4")

    def post(clip, token):
        with clip.open("rb") as stream:
            return api.post("/score", data={"video": (stream, clip.name), "challenge": token}, content_type="multipart/form-data")

    issued = api.get("/challenge").get_json()
    assert set(issued) == {"challenge", "phrase", "expires_at"} and len(issued["phrase"].split()) == 4
    said = media.video_with_speech(face, issued["phrase"], "rms", tmp_path / "said.mkv")
    passed = post(said, issued["challenge"]).get_json()
    assert passed["challenge"]["passed"] is True and passed["challenge"]["phrase"] == issued["phrase"]
    assert "spoken phrase" not in passed.get("risk_note", "")  # flite's voice may still be named as synthetic
    assert post(said, issued["challenge"]).status_code == 409

    failed = post(said, api.get("/challenge").get_json()["challenge"]).get_json()
    assert failed["challenge"]["passed"] is False
    assert failed["risk_level"] in {"HIGH", "CRITICAL"} and failed["is_likely_real"] is False
    assert failed["risk_note"].endswith("the spoken phrase did not match the challenge")
    assert failed["combined_score"] == passed["combined_score"]  # fusion is left as it is
    assert post(said, "forged.token").get_json()["error"] == "invalid_challenge"
    without = api.post("/score", data={"video": (said.open("rb"), "said.mkv")}, content_type="multipart/form-data").get_json()
    assert "challenge" not in without


def test_a_token_from_one_worker_is_accepted_by_another_with_the_same_secret(weights_dir, upload_dir):
    one = create_app(make_settings(weights_dir, upload_dir, challenge_secret="k" * 24)).test_client()
    two = create_app(Settings.from_env({"CHALLENGE_SECRET": "k" * 24})).extensions["scoring"].challenges
    assert two.redeem(one.get("/challenge").get_json()["challenge"])
