"""What a feature entry refers to: its protocol and recording, checked once for every kind of
feature (eFEL and trace features), with one message per problem.

A protocol that the config declares but that was refused (its own problems are already
reported) is not reported again as unknown by every feature that uses it."""

from __future__ import annotations

from cellsweep.cells.schema import Section, did_you_mean, quote


def protocol_and_recording(f: Section, protocols, declared=()):
    """``(protocol, its name as written, recording name)`` of a feature entry; protocol None
    when it is unknown or was refused. ``declared``: every protocol name the config wrote,
    valid or not."""
    proto_name = f.string("protocol")
    protocol = next((p for p in protocols if p.name == proto_name), None)
    known = [p.name for p in protocols]
    if proto_name and protocol is None and proto_name not in declared:
        f.error("protocol", f"unknown protocol {quote(proto_name)}; expected one of "
                            f"{', '.join(known)}" + did_you_mean(proto_name, known))
    recording = f.string("recording", "soma")
    if protocol is not None and recording not in [r.name for r in protocol.recordings]:
        recs = [r.name for r in protocol.recordings]
        f.error("recording", f"protocol {quote(proto_name)} has no recording "
                             f"{quote(recording)}; expected one of {', '.join(recs)}"
                + did_you_mean(recording, recs))
    return protocol, proto_name, recording
