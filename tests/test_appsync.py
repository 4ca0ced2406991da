"""The Firebase sync against a Realtime Database REST stand-in on loopback: add-only, batched, safe."""

import pytest

from whaledr_core.appsync import AuthError, Database, sync_counts

SECRET, TOKEN = "db-secret-7Hq2mZ0x", "ya29.token-Kp4Lw9"
IDS = [f"LJ01D___2019_01_12___OO_HYEA2__YDH_2019_01_12T00_00_{s:02d}" for s in range(0, 60, 5)]


def volunteers_work():
    return {
        "sampleCounts": {IDS[0]: 7, "older___2018_01_01___x": 3},
        "votes": {"u1": {IDS[0]: 1}},
        "sampleSummary": {IDS[0]: {"yes": 1}},
        "userSeenSamples": {"u1": {IDS[0]: 1}},
    }


def test_first_sync_adds_new_ids_second_adds_none_and_counts_stay(rtdb):
    db = rtdb(secret=SECRET, data=volunteers_work())
    before = {k: v for k, v in db.data.items() if k != "sampleCounts"}
    report = sync_counts(Database(db.url, secret=SECRET), IDS, batch=5)
    assert (report.added, report.already) == (11, 1)
    assert db.data["sampleCounts"] == {**{i: 0 for i in IDS}, IDS[0]: 7, "older___2018_01_01___x": 3}
    assert [w for w in db.writes()] == [("PATCH", "/sampleCounts.json")] * 3  # 11 IDs in batches of 5
    again = sync_counts(Database(db.url, secret=SECRET), IDS)
    assert (again.added, again.already) == (0, 12)
    assert len(db.writes()) == 3
    assert {k: v for k, v in db.data.items() if k != "sampleCounts"} == before


def test_access_token_is_sent_as_access_token(rtdb):
    db = rtdb(token=TOKEN)
    assert sync_counts(Database(db.url, access_token=TOKEN), IDS).added == 12
    assert all(q.get("access_token") == [TOKEN] and "auth" not in q for _, _, q in db.requests)


@pytest.mark.parametrize("credential", [{"secret": "wrong-secret-123"}, {"access_token": "wrong-token-456"}, {}])
def test_a_refused_credential_is_a_clear_error_and_writes_nothing(rtdb, credential):
    db = rtdb(secret=SECRET, data=volunteers_work())
    before = repr(db.data)
    with pytest.raises(AuthError) as err:
        sync_counts(Database(db.url, **credential), IDS)
    assert "HTTP 401" in str(err.value) and "nothing was written" in str(err.value)
    assert db.writes() == [] and repr(db.data) == before
    for value in credential.values():
        assert value not in str(err.value) and value not in repr(err.value.__cause__) and err.value.__suppress_context__


def test_the_credential_is_not_in_the_database_repr():
    db = Database("https://example.firebaseio.com", secret=SECRET)
    assert SECRET not in repr(db) and SECRET not in str(db)


def test_the_samples_schema_adds_new_ids_and_leaves_volunteers_work_alone(rtdb):
    """SwipesForScience 2022+: src/composables/gameplay/useSamples.js reads `/samples`; its emulator seed
    (firebase-emulator/fixtures/sample-wordswipe-test/dbSeed.js) sets `/samples/{id}` to
    `{totalSeenCount: 0, averageVote: 0, ...}`, and useGenerateDeck.js sorts on `totalSeenCount`."""
    seen = {"totalSeenCount": 12, "averageVote": 0.75}
    data = {"samples": {IDS[0]: dict(seen)}, "votes": {"v1": {"sampleId": IDS[0], "vote": 1}},
            "users": {"u1": {"score": 40}}, "userSeenSamples": {"u1": {IDS[0]: 1}}, "sampleCounts": {"x": 4}}
    db = rtdb(secret=SECRET, data=data)
    before = {k: v for k, v in db.data.items() if k != "samples"}
    report = sync_counts(Database(db.url, secret=SECRET), IDS, schema="samples", batch=5)
    assert (report.added, report.already) == (11, 1)
    assert db.data["samples"] == {**{i: {"totalSeenCount": 0, "averageVote": 0} for i in IDS[1:]}, IDS[0]: seen}
    assert db.writes() == [("PATCH", "/samples.json")] * 3
    assert {k: v for k, v in db.data.items() if k != "samples"} == before
    assert sync_counts(Database(db.url, secret=SECRET), IDS, schema="samples").added == 0


def test_an_unknown_schema_is_refused_before_any_request(rtdb):
    db = rtdb()
    with pytest.raises(ValueError, match="schema"):
        sync_counts(Database(db.url), IDS, schema="sampleSummary")
    assert db.requests == []


@pytest.fixture
def token_endpoint():
    from tokenserver import TokenEndpoint

    endpoints = []

    def start(**kwargs):
        endpoints.append(TokenEndpoint(**kwargs))
        return endpoints[-1]

    yield start
    for e in endpoints:
        e.stop()


def test_a_service_account_mints_tokens_the_database_accepts(rtdb, token_endpoint):
    from whaledr_core.gauth import FIREBASE_SCOPES, ServiceAccountTokens

    google = token_endpoint()
    db = rtdb(accepts=google.valid, data=volunteers_work())
    tokens = ServiceAccountTokens.from_info(google.service_account_info())
    report = sync_counts(Database(db.url, tokens=tokens), IDS)
    assert report.added == 11
    (claims,) = google.grants  # one token, signed by the account's key, for the whole sync
    assert claims["iss"] == google.email and claims["aud"] == "https://oauth2.googleapis.com/token"
    assert set(claims["scope"].split()) == set(FIREBASE_SCOPES)
    sent = {q["access_token"][0] for _, _, q in db.requests}
    assert len(sent) == 1 and google.valid(sent.pop())
    assert "PRIVATE KEY" not in repr(tokens) and google.private_pem not in repr(Database(db.url, tokens=tokens))


def test_tokens_are_minted_again_when_they_expire(rtdb, token_endpoint):
    """A token near its end is never sent: google-auth refreshes within minutes of expiry, so tokens
    that live 60 s are replaced on every request, as an hour's token is on the run an hour later."""
    from whaledr_core.gauth import ServiceAccountTokens

    google = token_endpoint(expires_in=60)
    db = rtdb(accepts=google.valid)
    tokens = ServiceAccountTokens.from_info(google.service_account_info())
    sync_counts(Database(db.url, tokens=tokens), IDS[:6], batch=2)
    sync_counts(Database(db.url, tokens=tokens), IDS, batch=2)
    sent = [q["access_token"][0] for _, _, q in db.requests]
    # a GET and three PATCHes, twice: a fresh token for each request
    assert len(sent) == len(set(sent)) == tokens.minted == len(google.grants) == (1 + 3) + (1 + 3)
    assert len(db.data["sampleCounts"]) == 12


def test_a_key_the_token_endpoint_does_not_know_writes_nothing_and_says_so(rtdb, token_endpoint):
    from whaledr_core.gauth import ServiceAccountTokens

    google, stranger = token_endpoint(), token_endpoint()
    info = {**stranger.service_account_info(), "token_uri": google.url}  # signed with another key
    db = rtdb(accepts=google.valid, data=volunteers_work())
    before = repr(db.data)
    with pytest.raises(AuthError) as err:
        sync_counts(Database(db.url, tokens=ServiceAccountTokens.from_info(info)), IDS)
    assert "access token" in str(err.value) and stranger.private_pem[40:80] not in str(err.value)
    assert google.refused and db.requests == [] and repr(db.data) == before


def test_the_blocks_take_a_gcp_credentials_block_and_never_show_its_key(rtdb, token_endpoint):
    from prefect_gcp import GcpCredentials

    from flows.app import WhaledrApp
    from flows.targets import FirebaseDatabase

    google = token_endpoint()
    db = rtdb(accepts=google.valid)
    creds = GcpCredentials(service_account_info=google.service_account_info())
    app = WhaledrApp(database_url=db.url, database_schema="samples", gcp_credentials=creds)
    assert sync_counts(app.database(), IDS[:3], schema=app.database_schema).added == 3
    assert sync_counts(FirebaseDatabase(database_url=db.url, gcp_credentials=creds).database(), IDS).added == 12
    assert set(db.data) == {"samples", "sampleCounts"} and len(google.grants) == 2
    key_line = google.private_pem.splitlines()[3]
    assert all(key_line not in text for text in (repr(app), str(app), repr(app.database()), repr(creds)))
