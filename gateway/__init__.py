"""The edge gateway (``smartpark gateway``): field devices to the wire contract.

Modules: registers (Modbus register maps: decoding, read planning; pure), modbus (one
poller per device), hj212 (HJ 212-2017 packets: CRC, framing, parsing, answers; pure),
hj212server (the TCP listener for CEMS instruments), forward (publishing with
store-and-forward to a disk buffer), service (the running gateway), app (built from
Settings), cli.
"""
