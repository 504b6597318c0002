"""The ordering rules of Run.documents(), on records (the cases a RunEngine rarely makes)."""

from __future__ import annotations

from resonance_callback.read._order import DescriptorRec, EventRec, ExternalRec, order_documents


def labels(items: list[DescriptorRec | EventRec | ExternalRec]) -> list[str]:
    return [item.uid for item in items]


def test_streams_interleave_by_time_and_keep_their_own_order() -> None:
    descs = [DescriptorRec("P", "primary", 1.0, 1), DescriptorRec("M", "monitor", 0.5, 2)]
    events = [EventRec("p2", "P", 2, 3.0, 3), EventRec("p1", "P", 1, 2.0, 1),
              EventRec("m1", "M", 1, 0.6, 2), EventRec("m2", "M", 2, 2.5, 4)]
    assert labels(order_documents(descs, events, [])) == ["M", "m1", "P", "p1", "m2", "p2"]


def test_a_retaken_reading_follows_the_first_and_a_new_descriptor_its_events() -> None:
    descs = [DescriptorRec("A", "primary", 1.0, 1), DescriptorRec("B", "primary", 5.0, 2),
             DescriptorRec("quiet", "monitor", 4.0, 3)]
    events = [EventRec("e1", "A", 1, 2.0, 1), EventRec("e1-again", "A", 1, 3.0, 2),
              EventRec("e2", "B", 2, 6.0, 3)]
    assert labels(order_documents(descs, events, [])) == [
        "A", "e1", "e1-again", "quiet", "B", "e2"]


def test_external_documents_go_just_before_the_event_needing_them() -> None:
    descs = [DescriptorRec("D", "primary", 1.0, 1)]
    events = [EventRec("e1", "D", 1, 2.0, 1, ("r/0",)), EventRec("e2", "D", 2, 3.0, 2, ("r/1",)),
              EventRec("e3", "D", 3, 4.0, 3)]
    externals = [
        ExternalRec("resource", "r", 1, {"uid": "r"}),
        ExternalRec("datum", "r/0", 2, {"datum_id": "r/0", "resource": "r"}),
        ExternalRec("stream_resource", "sr", 3, {"uid": "sr"}),
        ExternalRec("datum", "r/1", 4, {"datum_id": "r/1", "resource": "r"}),
        ExternalRec("stream_datum", "sr/0", 5, {"uid": "sr/0", "stream_resource": "sr",
                                                "descriptor": "D",
                                                "seq_nums": {"start": 3, "stop": 4}}),
    ]
    assert labels(order_documents(descs, events, externals)) == [
        "D", "r", "r/0", "e1", "sr", "r/1", "e2", "sr/0", "e3"]


def test_external_documents_no_event_needs_follow_the_one_before() -> None:
    descs = [DescriptorRec("D", "primary", 1.0, 1), DescriptorRec("F", "flyer", 5.0, 2)]
    events = [EventRec("e1", "D", 1, 2.0, 1), EventRec("e2", "D", 2, 9.0, 2)]
    externals = [
        ExternalRec("stream_resource", "sr", 1, {"uid": "sr"}),
        ExternalRec("stream_datum", "sr/0", 2, {"uid": "sr/0", "stream_resource": "sr",
                                                "descriptor": "F",
                                                "seq_nums": {"start": 1, "stop": 5}}),
    ]
    assert labels(order_documents(descs, events, externals)) == [
        "D", "e1", "F", "sr", "sr/0", "e2"]
