import threading

import pytest

from whaledr_core.sinks import LocalSink, open_sink


def test_local_sink_puts_gets_and_lists_complete_keys(tmp_path):
    sink = open_sink(str(tmp_path))
    sink.put("LJ01D/2019_01_12/a.png", b"png", "image/png")
    sink.put("LJ01D/2019_01_12/a.wav", b"wav", "audio/wav")
    (tmp_path / "LJ01D/2019_01_12/.b.png.1234.tmp").write_bytes(b"half")  # what a killed writer leaves
    assert sink.get("LJ01D/2019_01_12/a.png") == b"png" and sink.get("nope") is None
    assert sink.keys("LJ01D/2019_01_12/") == {"LJ01D/2019_01_12/a.png", "LJ01D/2019_01_12/a.wav"}
    assert sink.keys("LJ01D/2019_01_13/") == set()


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


def test_keys_cannot_escape_the_folder(tmp_path):
    with pytest.raises(ValueError):
        LocalSink(tmp_path / "out").put("../evil", b"x", "text/plain")
