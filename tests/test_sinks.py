"""Both sinks keep the same promises: complete keys only, sizes listed, and a compare-and-swap write."""

import threading

import pytest

from whaledr_core import appmanifest
from whaledr_core.sinks import LocalSink, S3Sink, open_sink, s3_client


@pytest.fixture(params=["local", "s3"])
def sink(request, tmp_path):
    if request.param == "local":
        return open_sink(str(tmp_path), "app")
    client, name = request.getfixturevalue("bucket")
    return S3Sink(client, name, "app", concurrency=4)


def test_puts_gets_and_lists_keys_with_sizes_at_any_depth(sink):
    sink.put("app/LJ01D/2019_01_12/a.png", b"png", "image/png")
    sink.put("app/LJ01D/2019_01_12/a.wav", b"wave", "audio/wav")
    sink.put("app/LJ01D/2019_01_13/b.wav", b"w", "audio/wav")
    assert sink.get("app/LJ01D/2019_01_12/a.png") == b"png" and sink.get("app/nope") is None
    assert sink.keys("app/LJ01D/2019_01_12/") == {"app/LJ01D/2019_01_12/a.png": 3, "app/LJ01D/2019_01_12/a.wav": 4}
    assert set(sink.keys("app/")) == {"app/LJ01D/2019_01_12/a.png", "app/LJ01D/2019_01_12/a.wav",
                                      "app/LJ01D/2019_01_13/b.wav"}
    assert sink.keys("app/LJ01D/2019_01_14/") == {}


def test_put_if_refuses_a_stale_version(sink):
    key = "app/whalemanifest.json"
    assert sink.get_versioned(key) == (None, None)
    assert sink.put_if(key, b"[1]", "application/json", None)
    assert not sink.put_if(key, b"[2]", "application/json", None)  # it exists now
    data, v1 = sink.get_versioned(key)
    assert data == b"[1]"
    assert sink.put_if(key, b"[1,2]", "application/json", v1)
    assert not sink.put_if(key, b"[1,3]", "application/json", v1)  # someone wrote since v1
    assert sink.get(key) == b"[1,2]"


def test_two_writers_merging_at_once_lose_nothing(sink, tmp_path, request):
    """Two day runs finishing together, many times over: each merge must survive the other's."""
    def other_sink():
        if isinstance(sink, LocalSink):
            return LocalSink(sink.root, sink.prefix)
        return S3Sink(sink.client, sink.bucket, sink.prefix)

    writers = {name: [f"{name}___2019_01_12___id{i}" for i in range(40)] for name in ("LJ01D", "LJ01C")}
    start = threading.Barrier(2)
    errors = []

    def write(node):
        s = other_sink()
        start.wait()
        try:
            for i in range(0, 40, 4):  # ten merges each, interleaved with the other writer's
                appmanifest.merge(s, writers[node][i : i + 4])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(n,)) for n in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ids = appmanifest.parse(sink.get("app/whalemanifest.json"))
    assert ids == sorted(writers["LJ01D"] + writers["LJ01C"])


def test_s3_objects_carry_content_type_and_cache_headers(bucket):
    client, name = bucket
    sink = S3Sink(client, name, "", cache_control="public, max-age=31536000, immutable")
    sink.put("a.png", b"x", "image/png")
    head = client.head_object(Bucket=name, Key="a.png")
    assert head["ContentType"] == "image/png"
    assert head["CacheControl"] == "public, max-age=31536000, immutable"


def test_s3_objects_carry_the_public_read_acl(moto_bucket):
    """On moto: SeaweedFS does not keep object ACLs (its answer grants its owner only), AWS and moto do."""
    client, name = moto_bucket
    S3Sink(client, name, "", public_read=True).put("a.png", b"x", "image/png")
    grants = client.get_object_acl(Bucket=name, Key="a.png")["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("/global/AllUsers") and g["Permission"] == "READ" for g in grants)


@pytest.mark.parametrize("server", ["s3_url", "moto_url"])
def test_a_stale_version_of_a_key_deleted_meanwhile_is_a_lost_race_on_every_server(server, request):
    """AWS answers a missing key under If-Match with 404 NoSuchKey (S3 User Guide, "Conditional write
    behavior"), as moto does; SeaweedFS answers 412. Either way the writer lost the race, reads again and
    merges: the key deleted between a read and its conditional write comes back with both merges."""
    from conftest import new_bucket

    client, name = new_bucket(request.getfixturevalue(server), request)
    sink = S3Sink(client, name, "app")
    key = "app/whalemanifest.json"
    assert sink.put_if(key, b'["a"]', "application/json", None)
    _, version = sink.get_versioned(key)
    client.delete_object(Bucket=name, Key=key)
    assert not sink.put_if(key, b'["a", "b"]', "application/json", version)
    with pytest.raises(client.exceptions.ClientError) as refused:
        client.put_object(Bucket=name, Key=key, Body=b"[]", IfMatch=version)
    status = refused.value.response["ResponseMetadata"]["HTTPStatusCode"]
    assert status == {"s3_url": 412, "moto_url": 404}[server]  # the difference put_if absorbs
    assert appmanifest.merge(sink, ["b"]).total == 1 and appmanifest.parse(sink.get(key)) == ["b"]


def test_s3_uploads_are_retried_through_throttling_and_5xx(s3_url, bucket):
    import boto3

    from s3proxy import FaultyS3Proxy

    client, name = bucket
    proxy = FaultyS3Proxy(s3_url, fail_every=3)
    try:
        session = boto3.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1")
        sink = S3Sink(s3_client(session, proxy.url, concurrency=4), name, "")
        for i in range(30):
            sink.put(f"k/{i}.wav", bytes([i]) * 1000, "audio/wav")
    finally:
        proxy.stop()
    assert proxy.failed >= 10
    stored = {o["Key"]: o["Size"] for o in client.list_objects_v2(Bucket=name)["Contents"]}
    assert stored == {f"k/{i}.wav": 1000 for i in range(30)}


def test_concurrent_writers_never_show_a_half_file(tmp_path):
    sink = LocalSink(tmp_path)
    big, other = b"a" * 2_000_000, b"b" * 2_000_000
    seen: set[bytes] = set()
    stop = threading.Event()

    def read():
        while not stop.is_set():
            data = sink.get("k/x.wav")
            if data is not None:
                seen.add(data[:1] + bytes([len(data) == 2_000_000]))

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(30):
        sink.put("k/x.wav", big if i % 2 else other, "audio/wav")
    stop.set()
    reader.join()
    assert seen <= {b"a\x01", b"b\x01"} and seen
    assert [p.name for p in (tmp_path / "k").iterdir()] == ["x.wav"]


def test_hidden_temporary_files_are_not_keys(tmp_path):
    sink = LocalSink(tmp_path)
    sink.put("d/a.png", b"png", "image/png")
    (tmp_path / "d/.b.png.1234.tmp").write_bytes(b"half")  # what a killed writer leaves
    assert sink.keys("d/") == {"d/a.png": 3}


def test_keys_cannot_escape_the_folder(tmp_path):
    with pytest.raises(ValueError):
        LocalSink(tmp_path / "out").put("../evil", b"x", "text/plain")


def test_a_compare_and_swap_write_leaves_nothing_but_the_object(tmp_path):
    """The published tree holds clips and manifests only: no lock file beside the app's manifest."""
    sink = LocalSink(tmp_path)
    assert sink.put_if("whalemanifest.json", b"[]", "application/json", None)
    assert [p.name for p in tmp_path.iterdir()] == ["whalemanifest.json"]
