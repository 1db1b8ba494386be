#!/usr/bin/env python3
"""Writes one pcap that keys a run of RFC 4733 events, from SIPp's single-key captures.

    make_dtmf.py OUT.pcap KEYS      e.g. make_dtmf.py agent_pin_4711.pcap 4711#

A ',' in KEYS is one second without keys (e.g. "4711#,,,,,,2": a page key after the whisper).

Each key is SIPp's /usr/share/sip-tester/dtmf_2833_<key>.pcap (key 'pound' for '#'), moved to
its own RTP timestamp (20000 + 4000 per key, past the 2240-sample event duration) and to
consecutive sequence numbers, 400 ms apart on the capture clock (SIPp plays packets at their
capture times). A phone's RTP clock only moves forward, so repeated keys ("11") stay distinct
events and a key never looks older than the one before. UDP checksums are zeroed (no checksum,
RFC 768), since the payload changed.
"""
import struct
import sys

STOCK = "/usr/share/sip-tester/dtmf_2833_{}.pcap"
HEADER = 24
ETH_IP_UDP = 14 + 20 + 8


def packets(path):
    data = open(path, "rb").read()
    header, off = data[:HEADER], HEADER
    while off < len(data):
        sec, usec, incl, orig = struct.unpack("<IIII", data[off:off + 16])
        yield header, sec + usec / 1e6, bytearray(data[off + 16:off + 16 + incl])
        off += 16 + incl


def main(out, keys):
    header, frames, seq, gap = None, [], 9000, 0.0
    for i, key in enumerate(keys):
        if key == ",":
            gap += 1.0
            continue
        name = {"#": "pound", "*": "star"}.get(key, key)
        stock = list(packets(STOCK.format(name)))
        first = stock[0][1]
        for header, at, pkt in stock:
            rtp = ETH_IP_UDP
            struct.pack_into(">H", pkt, rtp + 2, seq)
            struct.pack_into(">I", pkt, rtp + 4, 20000 + 4000 * i)
            struct.pack_into(">H", pkt, ETH_IP_UDP - 2, 0)
            seq += 1
            when = 1_000_000.0 + i * 0.4 + gap + (at - first)
            frames.append((when, bytes(pkt)))
    with open(out, "wb") as f:
        f.write(header)
        for when, pkt in frames:
            sec = int(when)
            usec = int(round((when - sec) * 1e6))
            f.write(struct.pack("<IIII", sec, usec, len(pkt), len(pkt)))
            f.write(pkt)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
