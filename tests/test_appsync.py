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
