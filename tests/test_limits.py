"""Rate limits per API key (per address without keys) on the scoring routes; /health is never limited."""

from __future__ import annotations

from app import create_app
from tests.helpers.service import app_settings

KEYS = ("rate-limit-key-a-0123456789", "rate-limit-key-b-0123456789")


def post(client, key: str | None = None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post("/score", data={}, content_type="multipart/form-data", headers=headers)


def test_each_key_has_its_own_budget_and_the_third_request_is_429_with_retry_after(weights_dir, upload_dir, classifier):
    client = create_app(app_settings(weights_dir, upload_dir, classifier, rate_limit_per_minute=2, api_keys=KEYS)).test_client()
    assert [post(client, KEYS[0]).status_code for _ in range(2)] == [400, 400]  # no video: answered, and counted
    refused = post(client, KEYS[0])
    assert refused.status_code == 429 and refused.get_json()["error"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0 and "2 per 1 minute" in refused.get_json()["message"]
    assert post(client, KEYS[1]).status_code == 400  # another key is not held back
    assert all(client.get("/health").status_code == 200 for _ in range(5))


def test_without_keys_the_limit_is_per_address_and_zero_turns_it_off(weights_dir, upload_dir, classifier):
    limited = create_app(app_settings(weights_dir, upload_dir, classifier, rate_limit_per_minute=1)).test_client()
    assert [post(limited).status_code for _ in range(2)] == [400, 429]
    other_address = limited.post("/score", data={}, content_type="multipart/form-data", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other_address.status_code == 400
    unlimited = create_app(app_settings(weights_dir, upload_dir, classifier, rate_limit_per_minute=0)).test_client()
    assert {post(unlimited).status_code for _ in range(5)} == {400}
